import { execFileSync } from 'node:child_process';
import { TestClient, eventFrame } from '../support/client';
import { startRedis, type RedisUnderTest } from '../support/redis-server';
import { startRelay, type RelayProcess } from '../support/relay-process';
import { testRegistry } from '../support/registry';

const status = (relay: RelayProcess, path: string) => fetch(`${relay.httpUrl}${path}`).then((r) => r.status, () => 0);

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Redis goes away while nodes run: nothing false is said, nothing accepted is lost. */
describe('Redis outage', () => {
  let redis: RedisUnderTest;
  let relay: RelayProcess;
  const { registry, tokens } = testRegistry();
  const clients: TestClient[] = [];

  beforeAll(async () => {
    redis = await startRedis({ appendonly: true });
    relay = await startRelay({ registry, env: { REDIS_URL: redis.url, RELAY_REDIS_PREFIX: redis.prefix, RELAY_NODE_TTL_MS: '1500' } });
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    expect(await relay.stop()).toBe(0);
    await redis.stop();
  });

  test('events get RELAY_UNAVAILABLE while Redis is down, and those accepted before are delivered after', async () => {
    const app = await TestClient.connect(relay.url, 'app', tokens.portal);
    clients.push(app);
    app.send(eventFrame({ thread_id: 'portal:before:1', ref: 'before' }));
    const before = await app.next((f) => f.type === 'accepted' && f.ref === 'before');
    expect(before.queued).toBe(true); // athena is offline: it waits in Redis

    await redis.kill();
    app.send(eventFrame({ thread_id: 'portal:during:1', ref: 'during' }));
    const refused = await app.next((f) => f.ref === 'during', 10_000);
    expect(refused).toMatchObject({ type: 'error', code: 'RELAY_UNAVAILABLE' });
    await until('/readyz fails', async () => (await status(relay, '/readyz')) === 503);
    expect(await status(relay, '/healthz')).toBe(200); // the process itself keeps running
    const upgrade = await TestClient.connect(relay.url, 'agent', tokens.athena).catch((err: { status?: number }) => err);
    expect(upgrade).toMatchObject({ status: 503 });

    await redis.start();
    await until('/readyz recovers', async () => (await status(relay, '/readyz')) === 200);
    const agent = await TestClient.connect(relay.url, 'agent', tokens.athena);
    clients.push(agent);
    const event = await agent.nextOf('event', before.event_id, 10_000);
    agent.send({ type: 'reply', event_id: event.event_id, content: 'after the outage', finish_reason: 'stop' });
    expect(await app.nextOf('reply', before.event_id)).toMatchObject({ content: 'after the outage' });

    // and new events are accepted again, end to end
    app.send(eventFrame({ thread_id: 'portal:after:1', ref: 'after' }));
    const after = await app.next((f) => f.type === 'accepted' && f.ref === 'after');
    await agent.nextOf('event', after.event_id);
    for (const c of clients) expect(c.invalid).toEqual([]);
  }, 60_000);

  test('bus subscribers cut off by Redis are replaced, and node-to-node traffic flows again', async () => {
    // app on one node, agent on another: every event, token and reply crosses the bus
    const second = await startRelay({ registry, env: { REDIS_URL: redis.url, RELAY_REDIS_PREFIX: redis.prefix, RELAY_NODE_TTL_MS: '1500' } });
    const app = await TestClient.connect(relay.url, 'app', tokens.portal);
    const agent = await TestClient.connect(second.url, 'agent', tokens.athena);
    clients.push(app, agent);
    // Kill every pub/sub connection from the server side; the nodes must notice and recover.
    const port = new URL(redis.url).port;
    execFileSync('redis-cli', ['-p', port, 'CLIENT', 'KILL', 'TYPE', 'pubsub']);
    await until('both ready again', async () => (await status(relay, '/readyz')) === 200 && (await status(second, '/readyz')) === 200);
    app.send(eventFrame({ thread_id: 'portal:bus:1', ref: 'bus' }));
    const accepted = await app.next((f) => f.type === 'accepted' && f.ref === 'bus', 10_000);
    const event = await agent.nextOf('event', accepted.event_id, 10_000);
    agent.send({ type: 'token', event_id: event.event_id, token: 'still' });
    agent.send({ type: 'reply', event_id: event.event_id, content: 'still', finish_reason: 'stop' });
    expect(await app.nextOf('token', accepted.event_id)).toMatchObject({ token: 'still', seq: 0 });
    expect(await app.nextOf('reply', accepted.event_id)).toMatchObject({ content: 'still' });
    await agent.close();
    expect(await second.stop()).toBe(0);
  }, 30_000);
});
