import { Redis } from 'ioredis';
import { TestClient, eventFrame } from '../support/client';
import { startRedis, type RedisUnderTest } from '../support/redis-server';
import { startRelay, type RelayProcess } from '../support/relay-process';
import { testRegistry } from '../support/registry';

// RELAY_REDIS_MIN_REPLICAS=1 on one primary with one replica: `accepted` only once the replica
// holds the event (Redis WAIT). With the replica down the app is told RELAY_UNAVAILABLE, never
// `accepted`; with it back, events are accepted again.

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

let primary: RedisUnderTest;
let replica: RedisUnderTest;
let relay: RelayProcess;
let probe: Redis;
const { registry, tokens } = testRegistry();
const clients: TestClient[] = [];
beforeAll(async () => {
  primary = await startRedis({ appendonly: true });
  replica = await startRedis({ replicaOf: Number(new URL(primary.url).port) });
  probe = new Redis(replica.url);
  await until('the replica in sync', async () => /master_link_status:up/.test(await probe.info('replication')));
  relay = await startRelay({
    registry,
    env: { REDIS_URL: primary.url, RELAY_REDIS_PREFIX: primary.prefix, RELAY_REDIS_MIN_REPLICAS: '1' },
  });
});
afterAll(async () => {
  probe.disconnect();
  await Promise.all(clients.map((c) => c.close()));
  expect(await relay.stop()).toBe(0);
  await replica.stop();
  await primary.stop();
});

test('an event is accepted only while a replica acknowledges it; without one the app gets RELAY_UNAVAILABLE', async () => {
  const agent = await TestClient.connect(relay.url, 'agent', tokens.athena);
  const app = await TestClient.connect(relay.url, 'app', tokens.portal);
  clients.push(agent, app);

  app.send(eventFrame({ ref: 'e1' }));
  const first = await app.next((f) => f.ref === 'e1');
  expect(first).toMatchObject({ type: 'accepted' });
  // what `accepted` vouched for is on the replica already
  expect(await probe.exists(`${primary.prefix}:event:${first.event_id as string}`)).toBe(1);

  await replica.stop();
  app.send(eventFrame({ ref: 'e2', thread_id: 'other' }));
  expect(await app.next((f) => f.ref === 'e2', 10_000)).toMatchObject({ type: 'error', code: 'RELAY_UNAVAILABLE' });

  await replica.start();
  probe.disconnect();
  probe = new Redis(replica.url);
  await until('the replica in sync again', async () => /master_link_status:up/.test(await probe.info('replication')));
  app.send(eventFrame({ ref: 'e3', thread_id: 'third' }));
  expect(await app.next((f) => f.ref === 'e3', 10_000)).toMatchObject({ type: 'accepted' });
  for (const c of clients) expect(c.invalid).toEqual([]);
}, 60_000);
