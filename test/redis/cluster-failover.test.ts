import { createRedisBus } from '../../packages/gateway/src/backends/redis/bus';
import { connectRedis, openBusSubscriber } from '../../packages/gateway/src/backends/redis/connect';
import { createKeys } from '../../packages/gateway/src/backends/redis/keys';
import { createReplicaWait, PrimaryChangedError } from '../../packages/gateway/src/backends/redis/replicas';
import { keySlot } from '../../packages/gateway/src/backends/redis/slot';
import { TestClient, eventFrame } from '../support/client';
import { startRedisCluster, type RedisClusterUnderTest } from '../support/redis-cluster';
import { startRelay, type RelayProcess } from '../support/relay-process';
import { testRegistry } from '../support/registry';

// A Redis Cluster shard's primary SIGKILLed with RELAY_REDIS_MIN_REPLICAS=1: every event the app
// was told `accepted` is on the replica the cluster promotes, so the agent gets each of them
// after the failover and the app one reply per event. While the shard has no replica, its events
// are refused; once it has one again, the relay takes them without a restart. And a node's bus
// subscriber finds its channel's slot on the promoted replica by itself. And a WAIT never vouches
// for a write its slot's old primary took. And after all that the node still stops cleanly.

let cluster: RedisClusterUnderTest;
let relay: RelayProcess;
const { registry, tokens } = testRegistry();
const clients: TestClient[] = [];

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

beforeAll(async () => {
  cluster = await startRedisCluster();
  relay = await startRelay({
    registry,
    env: { REDIS_CLUSTER_URLS: cluster.seeds, RELAY_REDIS_PREFIX: cluster.prefix, RELAY_REDIS_MIN_REPLICAS: '1' },
  });
}, 60_000);
// Draining the relay may take its whole grace (10 s) after two failovers, and a primary stopped
// with SIGTERM waits up to 10 s for its replica: more than the default 30 s on a loaded machine.
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await relay?.stop();
  await cluster?.stop();
}, 60_000);

test("events accepted before their agent's shard primary dies are all delivered after the failover, each answered once", async () => {
  const app = await TestClient.connect(relay.url, 'app', tokens.portal);
  clients.push(app);
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    app.send(eventFrame({ ref: `e${i}`, thread_id: `portal:failover:${i}`, idempotency_key: `k${i}` }));
    const answer = await app.next((f) => f.ref === `e${i}`);
    expect(answer.type).toBe('accepted');
    ids.push(answer.event_id as string);
  }

  // The agent's queue lives on the slot of its tag: kill that shard's primary. The promoted
  // replica has no replica of its own, so no event for that shard can be vouched for: refused.
  const killed = await cluster.killPrimaryOf(keySlot('agent:athena'));
  app.send(eventFrame({ ref: 'alone', thread_id: 'portal:failover:alone' }));
  expect(await app.next((f) => f.ref === 'alone', 10_000)).toMatchObject({ type: 'error', code: 'RELAY_UNAVAILABLE' });

  // The dead primary comes back as the new primary's replica: events are taken again, without
  // restarting the relay.
  await cluster.restart(killed);
  let after: string | undefined;
  await until('an event accepted after the failover', async () => {
    const ref = `late-${Date.now()}`;
    app.send(eventFrame({ ref, thread_id: 'portal:failover:late', idempotency_key: 'late' }));
    const answer = await app.next((f) => f.ref === ref, 10_000);
    if (answer.type === 'accepted') after = answer.event_id as string;
    return after !== undefined;
  });

  const agent = await TestClient.connect(relay.url, 'agent', tokens.athena);
  clients.push(agent);
  for (const id of [...ids, after as string]) {
    const event = await agent.nextOf('event', id, 15_000);
    agent.send({ type: 'reply', event_id: event.event_id, content: `done ${id}`, finish_reason: 'stop' });
    expect(await app.nextOf('reply', id, 10_000)).toMatchObject({ content: `done ${id}` });
  }
  expect(await app.quiet(500)).toEqual([]); // no second final for any of them
  for (const c of clients) expect(c.invalid).toEqual([]);
}, 120_000);

test("a node's bus subscriber follows its channel's slot to the promoted replica by itself, with no probe to tell it", async () => {
  const keys = createKeys(`${cluster.prefix}-bus`);
  const target = { clusterUrls: cluster.urls };
  const publisher = connectRedis(target);
  const bus = createRedisBus(publisher, (channel) => openBusSubscriber(target, publisher, channel), keys, () => {});
  try {
    const received: number[] = [];
    let unheard = 0;
    bus.onUndelivered(() => (unheard += 1));
    await bus.subscribe('n1', (m) => {
      if (m.kind === 'probe') received.push(m.sentAt);
    });
    const heard = async (sentAt: number) => {
      bus.publish('n1', { kind: 'probe', sentAt });
      await until(`probe ${sentAt}`, async () => received.includes(sentAt), 2_000).catch(() => {});
      return received.includes(sentAt);
    };
    await until('the first probe', () => heard(Date.now()));

    const killed = await cluster.killPrimaryOf(keySlot(keys.busChannel('n1')));
    // resubscribe() is never called: the subscriber's connection ended, and the bus made a new one where the slot is now
    await until('a probe heard after the failover', () => heard(Date.now()));
    await cluster.restart(killed);
    unheard = 0;
    const after = Date.now();
    expect(await heard(after)).toBe(true);
    expect(unheard).toBe(0);
  } finally {
    await bus.close();
    publisher.disconnect();
  }
}, 90_000);

test("a write's WAIT rejects once its slot has moved to another primary, though the new one has a replica", async () => {
  const client = connectRedis({ clusterUrls: cluster.urls });
  try {
    const key = `{${cluster.prefix}-wait}:k`;
    const replicated = createReplicaWait(client, 1, 2_000);
    await client.set(key, 'warm'); // the client knows the slots
    const before = replicated([key]);
    await client.set(key, 'written before the failover');
    const control = replicated([key]);
    await client.set(key, 'again');
    await control(); // same primary: a real WAIT, which its replica answers

    const killed = await cluster.killPrimaryOf(keySlot(key));
    await cluster.restart(killed); // the new primary has a replica again: a WAIT there would succeed
    await until('the client on the new primary', async () => (await client.set(key, 'after').catch(() => null)) === 'OK');
    // A WAIT on the new primary's connection counts that connection's writes, none of them this one.
    await expect(before()).rejects.toBeInstanceOf(PrimaryChangedError);
    const after = replicated([key]);
    await client.set(key, 'on the new primary');
    await after();
  } finally {
    client.disconnect();
  }
}, 90_000);

test('after the failovers the node drains and closes its backend within its grace, exiting 0', async () => {
  await Promise.all(clients.map((c) => c.close()));
  expect(await relay.stop()).toBe(0);
  // Both bounds warn when they run out (node.ts); a BullMQ worker's fetch stuck on a failed-over
  // shard once held the backend's close to the end of its grace.
  expect(relay.output()).not.toMatch(/grace period over|did not close in time/);
});
