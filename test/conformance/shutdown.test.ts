import { backendsUnderTest } from '../support/backends';
import { TestClient, UpgradeRefused, eventFrame } from '../support/client';
import { useRelay } from '../support/relay-fixture';
import type { RelayProcess } from '../support/relay-process';

// Graceful shutdown: on SIGTERM (or SIGINT) a node stops being ready, refuses new upgrades,
// closes every socket with 1001 ("reconnect, to any node") and exits 0 within its grace period.

const GRACE_MS = 3_000;
/** Generous: process start-up noise on a loaded machine, not a timing claim. */
const MARGIN_MS = 5_000;

/** What a client trying to reach a draining node gets: an HTTP status, or a refused connection. */
async function readiness(relay: RelayProcess): Promise<number | 'refused'> {
  try {
    return (await fetch(`${relay.httpUrl}/readyz`)).status;
  } catch {
    return 'refused';
  }
}

async function upgradeOutcome(relay: RelayProcess, token: string): Promise<number | 'refused' | 'opened'> {
  try {
    const client = await TestClient.connect(relay.url, 'app', token);
    await client.close();
    return 'opened';
  } catch (err) {
    return err instanceof UpgradeRefused ? err.status : 'refused';
  }
}

describe.each(backendsUnderTest())('graceful shutdown ($name backend)', (backend) => {
  // Each test stops its node itself; one a failed test left running is killed after it.
  const r = useRelay(backend, { env: { RELAY_SHUTDOWN_GRACE_MS: String(GRACE_MS) }, stoppedByTest: true });

  test.each(['SIGTERM', 'SIGINT'] as const)('%s: sockets closed with 1001, no new upgrades, exit 0 within the grace period', async (signal) => {
    const node = r.relay;
    expect(await readiness(node)).toBe(200);

    const agent = await r.connect('athena');
    const app = await r.connect('portal');
    const app2 = await r.connect('flow');
    // Work in flight: the agent holds an event and has streamed part of the answer.
    app.send(eventFrame({ thread_id: 'portal:shutdown:1' }));
    const id = (await app.nextOf('accepted')).event_id as string;
    await agent.nextOf('event', id);
    agent.send({ type: 'token', event_id: id, token: 'half an ans' });
    await app.nextOf('token', id);

    const started = Date.now();
    const exited = node.stop(signal);
    const closes = await Promise.all([agent.closed, app.closed, app2.closed]);
    for (const close of closes) expect(close.code).toBe(1001);

    // Every socket has been told to go: the node is draining or gone, never ready again.
    expect(await readiness(node)).not.toBe(200);
    const upgrade = await upgradeOutcome(node, r.tokens.portal);
    expect(upgrade === 503 || upgrade === 'refused').toBe(true);

    expect(await exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(GRACE_MS + MARGIN_MS);
    expect(node.output()).toContain('"signal":"' + signal + '"');
    expect(node.output()).not.toMatch(/shutdown failed/);
    for (const c of [agent, app, app2]) expect(c.invalid).toEqual([]);
  }, 20_000);

  test('a node with nothing connected exits 0 promptly on SIGTERM', async () => {
    const started = Date.now();
    expect(await r.relay.stop('SIGTERM')).toBe(0);
    expect(Date.now() - started).toBeLessThan(GRACE_MS + MARGIN_MS);
    expect(await readiness(r.relay)).toBe('refused');
  }, 20_000);

  test('a second signal while draining does not change the outcome', async () => {
    const app = await r.connect('portal');
    const exited = r.relay.stop('SIGTERM');
    r.relay.proc.kill('SIGINT');
    expect((await app.closed).code).toBe(1001);
    expect(await exited).toBe(0);
  }, 20_000);
});
