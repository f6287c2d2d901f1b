import Redis from 'ioredis';
import { TestClient, eventFrame } from '../support/client';
import { freePort, startRedis, type RedisUnderTest } from '../support/redis-server';
import { startRelay, type RelayProcess } from '../support/relay-process';
import { testRegistry } from '../support/registry';

// Issue 19 item 1, on a real node and Redis: an agent's reply is settled by several Redis
// steps, and while they wait (Redis's writes paused here with CLIENT PAUSE WRITE), the agent's
// token for another event reaches the app; only the replied event's own later frames wait.
// (src/relay/agent-lanes.test.ts holds the same rule on the memory backend.)

/** Well under the node TTL (10 s); the test ends the pause itself long before. */
const PAUSE_MS = 8_000;

let redis: RedisUnderTest;
let relay: RelayProcess;
let control: Redis;
const { registry, tokens } = testRegistry();
const clients: TestClient[] = [];

beforeAll(async () => {
  // Its own redis-server, always: CLIENT PAUSE stalls every client of the server.
  redis = await startRedis({ port: await freePort() });
  relay = await startRelay({ registry, env: { REDIS_URL: redis.url, RELAY_REDIS_PREFIX: redis.prefix } });
  control = new Redis(redis.url);
});
afterAll(async () => {
  await control.call('CLIENT', 'UNPAUSE').catch(() => {});
  await Promise.all(clients.map((c) => c.close()));
  control.disconnect();
  expect(await relay.stop()).toBe(0);
  await redis.stop();
});

test('a token for event Y reaches the app while the reply to X waits on Redis', async () => {
  const agent = await TestClient.connect(relay.url, 'agent', tokens.athena);
  const app = await TestClient.connect(relay.url, 'app', tokens.portal);
  clients.push(agent, app);
  const ids: string[] = [];
  for (const thread of ['x', 'y']) {
    app.send(eventFrame({ ref: thread, thread_id: `portal:lanes:${thread}` }));
    const accepted = await app.next((f) => f.type === 'accepted' && f.ref === thread, 10_000);
    await agent.nextOf('event', accepted.event_id, 10_000);
    ids.push(accepted.event_id as string);
  }
  const [x, y] = ids as [string, string];
  agent.send({ type: 'token', event_id: x, token: 'x0' });
  await app.nextOf('token', x);

  await control.call('CLIENT', 'PAUSE', String(PAUSE_MS), 'WRITE');
  try {
    agent.send({ type: 'reply', event_id: x, content: 'x done', finish_reason: 'stop' });
    agent.send({ type: 'token', event_id: x, token: 'x after its reply', ref: 'late' });
    agent.send({ type: 'token', event_id: y, token: 'y0' });
    expect(await app.nextOf('token', y, PAUSE_MS / 2)).toMatchObject({ token: 'y0', seq: 0 });
    // X's reply is still waiting on Redis (the app's frames arrive in order, and none of X's
    // came before Y's token), and X's later frame waits behind it
    expect(app.frames.filter((f) => f.event_id === x)).toEqual([]);
    expect(agent.frames.filter((f) => f.ref === 'late')).toEqual([]);
  } finally {
    await control.call('CLIENT', 'UNPAUSE');
  }
  expect(await app.nextOf('reply', x, 10_000)).toMatchObject({ content: 'x done' });
  expect(await agent.next((f) => f.ref === 'late', 10_000)).toMatchObject({ type: 'error', code: 'UNKNOWN_EVENT', event_id: x });

  agent.send({ type: 'reply', event_id: y, content: 'y done', finish_reason: 'stop' });
  expect(await app.nextOf('reply', y, 10_000)).toMatchObject({ content: 'y done' });
  expect(await app.quiet(100)).toEqual([]);
  for (const c of clients) expect(c.invalid).toEqual([]);
}, 60_000);
