import { TestClient, eventFrame } from '../support/client';
import { startRedis, type RedisUnderTest } from '../support/redis-server';
import { startRelay, type RelayProcess } from '../support/relay-process';
import { testRegistry } from '../support/registry';

// An agent's reply that arrives while Redis is down cannot be recorded: the agent is told
// RELAY_UNAVAILABLE ("retry with backoff"), and its retry once Redis is back must be taken. The
// event stays the agent's meanwhile; it must not turn into one that nobody may answer. (Found
// by the chaos test, where Redis restarted while agents were replying.)

const status = (relay: RelayProcess, path: string) => fetch(`${relay.httpUrl}${path}`).then((r) => r.status, () => 0);

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

let redis: RedisUnderTest;
let relay: RelayProcess;
const { registry, tokens } = testRegistry();
const clients: TestClient[] = [];

beforeAll(async () => {
  redis = await startRedis({ appendonly: true });
  // The default node TTL (10 s) outlasts the outage: the node keeps its sockets open throughout.
  relay = await startRelay({ registry, env: { REDIS_URL: redis.url, RELAY_REDIS_PREFIX: redis.prefix } });
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  expect(await relay.stop()).toBe(0);
  await redis.stop();
});

test('a reply refused with RELAY_UNAVAILABLE while Redis is down is taken when the agent sends it again', async () => {
  const agent = await TestClient.connect(relay.url, 'agent', tokens.athena);
  const app = await TestClient.connect(relay.url, 'app', tokens.portal);
  clients.push(agent, app);
  app.send(eventFrame({ ref: 'e1' }));
  const accepted = await app.next((f) => f.type === 'accepted' && f.ref === 'e1');
  const id = accepted.event_id as string;
  await agent.nextOf('event', id);

  await redis.kill();
  agent.send({ type: 'reply', event_id: id, content: 'first try', finish_reason: 'stop', ref: 'r1' });
  expect(await agent.next((f) => f.ref === 'r1', 10_000)).toMatchObject({
    type: 'error',
    code: 'RELAY_UNAVAILABLE',
    event_id: id,
  });

  await redis.start();
  await until('/readyz recovers', async () => (await status(relay, '/readyz')) === 200);
  agent.send({ type: 'reply', event_id: id, content: 'second try', finish_reason: 'stop', ref: 'r2' });
  expect(await app.nextOf('reply', id, 10_000)).toMatchObject({ content: 'second try' });
  expect(await agent.quiet(300)).toEqual([]); // no UNKNOWN_EVENT for the retry
  for (const c of clients) expect(c.invalid).toEqual([]);
}, 60_000);
