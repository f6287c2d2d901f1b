import { randomBytes } from 'node:crypto';
import { TestClient, UpgradeRefused, eventFrame } from '../support/client';
import { freePort, startRedis, type RedisUnderTest } from '../support/redis-server';
import { startRelay, type RelayProcess } from '../support/relay-process';
import { testRegistry } from '../support/registry';
import { send, sleep } from '../support/lifecycle';
import { metricSum, scrape } from '../support/wire-probe';

// A node whose Redis is unreachable at start-up says so, keeps running and refuses traffic
// (it cannot record events); once Redis appears, it becomes ready by itself and serves.
//
// On one redis-server only: these tests start and kill the whole store. A Redis Cluster's
// failure is one shard primary killed and replaced by its replica, pinned in
// test/redis/cluster-failover.test.ts and the chaos test's cluster run.

const { registry, tokens } = testRegistry();
const relays: RelayProcess[] = [];
const clients: TestClient[] = [];
let redis: RedisUnderTest | undefined;

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  const codes = await Promise.all(relays.splice(0).map((r) => r.stop()));
  await redis?.stop();
  redis = undefined;
  expect(codes.every((code) => code === 0)).toBe(true);
});

async function status(url: string): Promise<number> {
  return (await fetch(url)).status;
}

async function upgrade(url: string, role: 'app' | 'agent', token: string): Promise<TestClient> {
  const client = await TestClient.connect(url, role, token);
  clients.push(client);
  return client;
}

test('Redis unreachable at start-up: the node logs it, stays up but not ready, and recovers when Redis appears', async () => {
  const port = await freePort();
  const env = { REDIS_URL: `redis://127.0.0.1:${port}`, RELAY_REDIS_PREFIX: `relaytest-${randomBytes(4).toString('hex')}` };
  const node = await startRelay({ registry, env, waitReady: false });
  relays.push(node);

  await node.waitForOutput(/redis unavailable/, 10_000);
  const line = node.output().split('\n').find((l) => l.includes('redis unavailable')) as string;
  expect(JSON.parse(line)).toMatchObject({ level: 40, redis: env.REDIS_URL });
  await sleep(1_000);
  expect(node.proc.exitCode).toBeNull();
  expect(await status(`${node.httpUrl}/healthz`)).toBe(200); // the process is up...
  expect(await status(`${node.httpUrl}/readyz`)).toBe(503); // ...but takes no traffic
  expect(metricSum(await scrape(node.httpUrl), 'relay_redis_up')).toBe(0);
  for (const [role, token] of [['app', tokens.portal], ['agent', tokens.athena]] as const) {
    const refused = await upgrade(node.url, role, token).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(UpgradeRefused);
    expect((refused as UpgradeRefused).status).toBe(503);
  }

  // Redis appears where the node looks for it: the node becomes ready without a restart.
  redis = await startRedis({ port });
  const deadline = Date.now() + 15_000;
  while ((await status(`${node.httpUrl}/readyz`)) !== 200) {
    if (Date.now() > deadline) throw new Error(`node never became ready:\n${node.output()}`);
    await sleep(100);
  }
  expect(node.output()).toMatch(/redis ready/);
  expect(metricSum(await scrape(node.httpUrl), 'relay_redis_up')).toBe(1);

  // It serves, and as a member of a cluster: an agent on a second node answers its app.
  const second = await startRelay({ registry, env });
  relays.push(second);
  const agent = await upgrade(second.url, 'agent', tokens.athena);
  const app = await upgrade(node.url, 'app', tokens.portal);
  const accepted = await send(app, eventFrame());
  expect(accepted).toMatchObject({ type: 'accepted' });
  await agent.nextOf('event', accepted.event_id);
  agent.send({ type: 'reply', event_id: accepted.event_id, content: 'recovered', finish_reason: 'stop' });
  expect(await app.nextOf('reply', accepted.event_id)).toMatchObject({ content: 'recovered' });
  for (const c of clients) expect(c.invalid).toEqual([]);
}, 40_000);

test('Redis lost while sockets are open: events get RELAY_UNAVAILABLE, never accepted, until it is back', async () => {
  // AOF, as in production: what was recorded before the crash is there after the restart.
  redis = await startRedis({ appendonly: true });
  const env = { REDIS_URL: redis.url, RELAY_REDIS_PREFIX: redis.prefix };
  const [first, second] = await Promise.all([startRelay({ registry, env }), startRelay({ registry, env })]);
  relays.push(first as RelayProcess, second as RelayProcess);
  const agent = await upgrade((second as RelayProcess).url, 'agent', tokens.athena);
  const app = await upgrade((first as RelayProcess).url, 'app', tokens.portal);
  const before = await send(app, eventFrame({ thread_id: 'portal:outage:before' }));
  await agent.nextOf('event', before.event_id);

  await redis.kill();
  const refused = await send(app, eventFrame({ thread_id: 'portal:outage:during', ref: 'during' }));
  expect(refused).toMatchObject({ type: 'error', code: 'RELAY_UNAVAILABLE', ref: 'during' });
  expect(refused.event_id).toBeUndefined();
  const deadline = Date.now() + 5_000;
  while ((await status(`${(first as RelayProcess).httpUrl}/readyz`)) !== 503) {
    if (Date.now() > deadline) throw new Error('node still ready without Redis');
    await sleep(50);
  }
  expect(metricSum(await scrape((first as RelayProcess).httpUrl), 'relay_redis_up')).toBe(0);

  await redis.start();
  const back = Date.now() + 15_000;
  for (const node of [first, second] as RelayProcess[]) {
    while ((await status(`${node.httpUrl}/readyz`)) !== 200) {
      if (Date.now() > back) throw new Error(`node never became ready again:\n${node.output()}`);
      await sleep(100);
    }
    expect(metricSum(await scrape(node.httpUrl), 'relay_redis_up')).toBe(1);
  }
  // The event in flight before the outage is still the agent's to answer, and new ones flow.
  agent.send({ type: 'reply', event_id: before.event_id, content: 'before', finish_reason: 'stop' });
  expect(await app.nextOf('reply', before.event_id)).toMatchObject({ content: 'before' });
  const after = await send(app, eventFrame({ thread_id: 'portal:outage:after' }));
  expect(after).toMatchObject({ type: 'accepted' });
  await agent.nextOf('event', after.event_id);
  agent.send({ type: 'reply', event_id: after.event_id, content: 'after', finish_reason: 'stop' });
  expect(await app.nextOf('reply', after.event_id)).toMatchObject({ content: 'after' });
  expect(agent.frames.filter((f) => f.type === 'event')).toEqual([]);
  for (const c of clients) expect(c.invalid).toEqual([]);
}, 40_000);
