import { TestClient, eventFrame, type Frame } from '../support/client';
import { finalsFor, recordFrames, send, sleep } from '../support/lifecycle';
import { startRedis, type RedisUnderTest } from '../support/redis-server';
import { startRelay, type RelayProcess } from '../support/relay-process';
import { testRegistry } from '../support/registry';

// An agent connection that closes while Redis is down: its node cannot detach it from the queue
// or remove it from presence then. Both must happen once Redis is back, or the events it held,
// and later events of its sessions, would stay with a connection that no longer exists for as
// long as its node lives, and discover would show the agent online.
//
// On one redis-server only: the whole store going down is the point. A Redis Cluster does not go
// down as a whole when one process dies; its failure is a shard primary killed and replaced by
// its replica, pinned in test/redis/cluster-failover.test.ts and the chaos test's cluster run.

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

const readyz = (relay: RelayProcess) => fetch(`${relay.httpUrl}/readyz`).then((r) => r.status, () => 0);

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function connect(relay: RelayProcess, role: 'app' | 'agent', token: string): Promise<TestClient> {
  const client = await TestClient.connect(relay.url, role, token);
  clients.push(client);
  return client;
}

/** Presence is registered just after the socket opens, so callers wait for the status they expect. */
async function athenaStatus(app: TestClient): Promise<string> {
  const ref = `d-${Math.random().toString(36).slice(2)}`;
  app.send({ type: 'discover', ref });
  const answer = await app.next((f) => f.type === 'agents' && f.ref === ref);
  return (answer.agents as Frame[]).find((a) => a.id === 'athena')?.status as string;
}

const reply = (eventId: string, content: string) => ({ type: 'reply', event_id: eventId, content, finish_reason: 'stop' });

test('an agent that drops while Redis is down gets its event again (attempt 2) when it reconnects, and presence follows', async () => {
  // AOF, as in production: the queue and presence survive the restart. The default node TTL
  // (10 s) outlasts the outage, so neither node is given up for dead: nobody reaps the dropped
  // connection for its node.
  redis = await startRedis({ appendonly: true });
  const env = { REDIS_URL: redis.url, RELAY_REDIS_PREFIX: redis.prefix };
  const [appNode, agentNode] = await Promise.all([startRelay({ registry, env }), startRelay({ registry, env })]);
  relays.push(appNode as RelayProcess, agentNode as RelayProcess);
  const app = await connect(appNode as RelayProcess, 'app', tokens.portal);
  const seen = recordFrames(app);
  const first = await connect(agentNode as RelayProcess, 'agent', tokens.athena);
  await until('discover shows athena online', async () => (await athenaStatus(app)) === 'online');

  const held = (await send(app, eventFrame({ thread_id: 'portal:drop:held' }))).event_id as string;
  expect((await first.nextOf('event', held)).attempt).toBe(1);

  await redis.kill();
  for (const node of relays) await until(`${node.nodeId} notices Redis is gone`, async () => (await readyz(node)) === 503);
  first.ws.terminate(); // the agent is lost while its node cannot tell Redis
  await first.closed;
  await (agentNode as RelayProcess).waitForOutput(/"role":"agent"[^\n]*connection closed/, 10_000);
  await sleep(300);

  await redis.start();
  for (const node of relays) await until(`${node.nodeId} ready again`, async () => (await readyz(node)) === 200);

  // Nobody serves athena now.
  await until('discover shows athena offline', async () => (await athenaStatus(app)) === 'offline');

  const next = await connect(agentNode as RelayProcess, 'agent', tokens.athena);
  await until('discover shows athena online', async () => (await athenaStatus(app)) === 'online');
  expect(await next.nextOf('event', held, 20_000)).toMatchObject({ attempt: 2, thread_id: 'portal:drop:held' });
  next.send(reply(held, 'answered after the outage'));
  expect(await app.nextOf('reply', held, 10_000)).toMatchObject({ content: 'answered after the outage' });

  // New events, of the dropped connection's session and of another, reach the live connection.
  const sameSession = (await send(app, eventFrame({ thread_id: 'portal:drop:later' }))).event_id as string;
  const otherSession = (await send(app, eventFrame({ thread_id: 'portal:other:later' }))).event_id as string;
  for (const id of [sameSession, otherSession]) {
    expect(await next.nextOf('event', id, 20_000)).toMatchObject({ attempt: 1 });
    next.send(reply(id, `answer ${id}`));
    expect(await app.nextOf('reply', id, 10_000)).toMatchObject({ content: `answer ${id}` });
  }

  await sleep(500);
  for (const id of [held, sameSession, otherSession]) expect(finalsFor(seen, id)).toHaveLength(1);
  expect(next.frames.filter((f) => f.type === 'event' || f.type === 'error')).toEqual([]);

  await next.close();
  await until('discover shows athena offline after a clean close', async () => (await athenaStatus(app)) === 'offline');
  for (const c of clients) expect(c.invalid).toEqual([]);
}, 90_000);
