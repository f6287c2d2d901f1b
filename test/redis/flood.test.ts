import Redis from 'ioredis';
import { TestClient, eventFrame } from '../support/client';
import { freePort, startRedis, type RedisUnderTest } from '../support/redis-server';
import { startRelay, type RelayProcess } from '../support/relay-process';
import { testRegistry } from '../support/registry';
import { metricSum, scrape } from '../support/wire-probe';

// Frames from one socket are handled in order, one after the other (frame-queue.ts; an
// agent's, one after the other per event). While Redis stalls, none of them finishes, so a
// client that keeps sending would grow the node's memory without bound (invariant 8): past
// MAX_QUEUED_FRAMES (10,000) waiting, or past MAX_QUEUED_BYTES (8 MiB) of their text, the socket
// is closed with 1013 and the refusal counted as FLOOD. An agent socket may have 1 MiB more waiting per event it may hold (max_in_flight): a
// fast agent answering all of them at once is no flood (test/conformance/fast-agent.test.ts).
// On the memory backend frames finish too fast to pile up, so Redis is stalled here with CLIENT
// PAUSE: commands wait, none fail.

const MAX_QUEUED_FRAMES = 10_000;
const MAX_QUEUED_BYTES = 8 * 1024 * 1024;
const AGENT_MAX_IN_FLIGHT = 2;
/** Long enough for 10,001 frames to reach the node on a busy machine; under the node TTL (10 s). */
const PAUSE_MS = 5_000;

let redis: RedisUnderTest;
let relay: RelayProcess;
let control: Redis;
const { registry, tokens } = testRegistry({ agents: { athena: { max_in_flight: AGENT_MAX_IN_FLIGHT } } });
const clients: TestClient[] = [];

beforeAll(async () => {
  // Its own redis-server, always: CLIENT PAUSE stalls every client of the server it is sent to,
  // so never a shared REDIS_URL or container.
  redis = await startRedis({ port: await freePort() });
  relay = await startRelay({ registry, env: { REDIS_URL: redis.url, RELAY_REDIS_PREFIX: redis.prefix } });
  control = new Redis(redis.url);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  control.disconnect();
  expect(await relay.stop()).toBe(0);
  await redis.stop();
});

/** Opens a flooder and a bystander, both with their opening work done. */
async function twoSockets(): Promise<[TestClient, TestClient]> {
  const flooder = await TestClient.connect(relay.url, 'app', tokens.portal);
  const bystander = await TestClient.connect(relay.url, 'app', tokens.portal);
  clients.push(flooder, bystander);
  // Each socket's opening work (presence, outbox) is done once a discover is answered: nothing
  // of the flooder's own waits in its queue before the flood.
  for (const c of [flooder, bystander]) {
    c.send({ type: 'discover', ref: 'warm' });
    await c.next((f) => f.type === 'agents' && f.ref === 'warm');
  }
  return [flooder, bystander];
}

const floods = async (role = 'app') => metricSum(await scrape(relay.httpUrl), 'relay_frames_rejected_total', { role, code: 'FLOOD' });

/**
 * Stalls Redis, lets `flood` send, and checks the flooder is closed with 1013, counted once,
 * while the bystander and a new socket carry on.
 */
async function expectFloodClosed(flooder: TestClient, bystander: TestClient, flood: () => void): Promise<void> {
  const before = await floods(flooder.role);
  // The pausing client is paused too: this answer comes when the pause is over.
  await control.call('CLIENT', 'PAUSE', String(PAUSE_MS), 'ALL');
  const resumed = control.ping();
  flood();
  let timer: NodeJS.Timeout | undefined;
  const closed = await Promise.race([
    flooder.closed.then((c) => c.code),
    new Promise((resolve) => (timer = setTimeout(resolve, 20_000, 'still open'))),
  ]);
  clearTimeout(timer);
  expect(closed).toBe(1013);

  // Frames that need no Redis are still answered on the node, on another socket
  bystander.send({ type: 'ping', ref: 'during' });
  expect(await bystander.next((f) => f.type === 'pong')).toEqual({ type: 'pong', ref: 'during' });

  await resumed;
  expect((await floods(flooder.role)) - before).toBe(1);
  bystander.send({ type: 'discover', ref: 'after' });
  expect(await bystander.next((f) => f.ref === 'after', 10_000)).toMatchObject({ type: 'agents' });
  const fresh = await TestClient.connect(relay.url, 'app', tokens.portal);
  clients.push(fresh);
  fresh.send({ type: 'discover', ref: 'fresh' });
  expect(await fresh.next((f) => f.ref === 'fresh', 10_000)).toMatchObject({ type: 'agents' });
  for (const c of clients) expect(c.invalid).toEqual([]);
}

test('a socket with more than 10,000 frames waiting is closed with 1013; the node carries on', async () => {
  const [flooder, bystander] = await twoSockets();
  await expectFloodClosed(flooder, bystander, () => {
    for (let i = 0; i <= MAX_QUEUED_FRAMES; i++) flooder.send({ type: 'discover', ref: `d${i}` });
  });
}, 60_000);

test('a socket with more than 8 MiB of frames waiting is closed with 1013, long before 10,000 frames', async () => {
  const [flooder, bystander] = await twoSockets();
  const payload = { blob: 'x'.repeat(60_000) }; // under the 64,000-byte payload limit
  const count = Math.ceil(MAX_QUEUED_BYTES / 60_000) + 20;
  expect(count).toBeLessThan(MAX_QUEUED_FRAMES / 10);
  await expectFloodClosed(flooder, bystander, () => {
    for (let i = 0; i < count; i++) flooder.send(eventFrame({ payload, ref: `e${i}`, thread_id: `portal:flood:${i}` }));
  });
}, 60_000);

test('an agent socket with more waiting than its replies can weigh is closed with 1013', async () => {
  const [, bystander] = await twoSockets();
  const flooder = await TestClient.connect(relay.url, 'agent', tokens.athena);
  clients.push(flooder);
  flooder.send({ type: 'ping', ref: 'warm' });
  await flooder.next((f) => f.type === 'pong');
  // The agent holds one event, so its reply to it needs Redis and, with Redis stalled, keeps
  // every later frame of that event waiting behind it. (Frames for other events do not wait
  // behind it, and replies to events it does not hold are refused on the node without Redis,
  // so alone they would never pile up.)
  bystander.send(eventFrame({ ref: 'held', thread_id: 'portal:flood:held' }));
  const held = await flooder.next((f) => f.type === 'event');
  // Just under the 1 MiB agent frame limit each: past MAX_QUEUED_BYTES plus one such reply per
  // event it may hold.
  const content = 'x'.repeat(1_000_000);
  const count = Math.ceil((MAX_QUEUED_BYTES + AGENT_MAX_IN_FLIGHT * 1024 * 1024) / 1_000_000) + 2;
  await expectFloodClosed(flooder, bystander, () => {
    flooder.send({ type: 'reply', event_id: held.event_id, content: 'done', finish_reason: 'stop' });
    for (let i = 0; i < count; i++) flooder.send({ type: 'reply', event_id: held.event_id, content, finish_reason: 'stop' });
  });
}, 60_000);
