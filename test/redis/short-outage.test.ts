import { TestClient, eventFrame } from '../support/client';
import { startRedis, type RedisUnderTest } from '../support/redis-server';
import { startRelay, type RelayProcess } from '../support/relay-process';
import { testRegistry } from '../support/registry';

const NODE_TTL_MS = 1_500;

const status = (relay: RelayProcess, path: string) => fetch(`${relay.httpUrl}${path}`).then((r) => r.status, () => 0);

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Redis is down long enough for every node's liveness key to lapse. No node could reap another
 * meanwhile, so none was given up for dead: every socket stays open, and traffic between nodes
 * flows again once Redis is back. (The node that is really reaped, paused past its TTL while the
 * others run, is `test/cluster/paused-node.test.ts`: it still drops its sockets.)
 */
describe('a Redis outage that reaps nobody', () => {
  let redis: RedisUnderTest;
  const relays: RelayProcess[] = [];
  const { registry, tokens } = testRegistry();

  beforeAll(async () => {
    redis = await startRedis({ appendonly: true });
    for (let i = 0; i < 2; i++) {
      relays.push(await startRelay({ registry, env: { REDIS_URL: redis.url, RELAY_REDIS_PREFIX: redis.prefix, RELAY_NODE_TTL_MS: String(NODE_TTL_MS) } }));
    }
  });
  afterAll(async () => {
    for (const relay of relays) expect(await relay.stop()).toBe(0);
    await redis.stop();
  });

  test('keeps every socket, and the nodes reach each other again', async () => {
    const [one, two] = relays as [RelayProcess, RelayProcess];
    const app = await TestClient.connect(one.url, 'app', tokens.portal);
    const agent = await TestClient.connect(two.url, 'agent', tokens.athena);
    await agent.attached(); // so the first event finds it online: `queued: false`
    const closes: number[] = [];
    void app.closed.then((c) => closes.push(c.code));
    void agent.closed.then((c) => closes.push(c.code));
    app.send(eventFrame({ thread_id: 'portal:outage:before', ref: 'before' }));
    const before = await app.next((f) => f.type === 'accepted' && f.ref === 'before');
    expect(before.queued).toBe(false);
    await agent.nextOf('event', before.event_id);

    await redis.kill();
    await until('both nodes see Redis gone', async () => (await status(one, '/readyz')) === 503 && (await status(two, '/readyz')) === 503);
    // Past the TTL: when Redis comes back, both liveness keys have lapsed.
    await new Promise((resolve) => setTimeout(resolve, NODE_TTL_MS + 500));
    await redis.start();
    await until('both nodes ready again', async () => (await status(one, '/readyz')) === 200 && (await status(two, '/readyz')) === 200);
    // A few beats of both nodes: each has found its own key lapsed and looked at the other's.
    await new Promise((resolve) => setTimeout(resolve, NODE_TTL_MS * 2));
    expect(closes).toEqual([]);

    // The event written before the outage is still the agent's to answer, and new ones flow.
    agent.send({ type: 'reply', event_id: before.event_id, content: 'through the outage', finish_reason: 'stop' });
    expect(await app.nextOf('reply', before.event_id, 10_000)).toMatchObject({ content: 'through the outage' });
    app.send(eventFrame({ thread_id: 'portal:outage:after', ref: 'after' }));
    const after = await app.next((f) => f.type === 'accepted' && f.ref === 'after', 10_000);
    expect(after.queued).toBe(false);
    expect(await agent.nextOf('event', after.event_id, 10_000)).toMatchObject({ attempt: 1 });
    expect(closes).toEqual([]);
    expect(app.invalid).toEqual([]);
    expect(agent.invalid).toEqual([]);
    await app.close();
    await agent.close();
  }, 60_000);
});
