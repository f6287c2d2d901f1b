import { ErrorCode } from '@relay/protocol';
import { TestClient, UpgradeRefused, eventFrame } from '../support/client';
import { clusterPerTest, describeOnStores, registered, waitForStatus } from '../support/cluster';
import { send, sleep } from '../support/lifecycle';

// Connection limits and rate limits count across the cluster: spreading connections or events
// over several nodes gets no app or agent more than its share.

/** The upgrade's HTTP status, or 101 if it went through (the socket is closed again). */
async function upgradeStatus(url: string, role: 'app' | 'agent', token: string): Promise<number> {
  try {
    const client = await TestClient.connect(url, role, token);
    await client.close();
    return 101;
  } catch (err) {
    if (err instanceof UpgradeRefused) return err.status;
    throw err;
  }
}

describeOnStores('limits across nodes', (store) => {
  describe('max_connections', () => {
    const c = clusterPerTest({
      store,
      registry: { apps: { flow: { max_connections: 2 } }, agents: { athena: { max_connections: 1 } } },
    });

    test('an app with max_connections 2: one on node 1, one on node 2, the third on node 3 gets 429', async () => {
      const { cluster } = c;
      const first = await cluster.connect(1, 'flow');
      const second = await cluster.connect(2, 'flow');
      await registered(first);
      await registered(second);
      expect(await upgradeStatus(cluster.node(3).url, 'app', cluster.tokens.flow)).toBe(429);
      expect(await upgradeStatus(cluster.node(1).url, 'app', cluster.tokens.flow)).toBe(429);
      // other apps are not affected
      expect(await upgradeStatus(cluster.node(3).url, 'app', cluster.tokens.portal)).toBe(101);

      // A place freed on one node can be taken on another.
      await second.close();
      const deadline = Date.now() + 5_000;
      let status = 0;
      while (status !== 101 && Date.now() < deadline) {
        status = await upgradeStatus(cluster.node(3).url, 'app', cluster.tokens.flow);
        if (status !== 101) await sleep(50);
      }
      expect(status).toBe(101);
    });

    test('an agent with max_connections 1 on node 1 cannot open a second on node 2', async () => {
      const { cluster } = c;
      const watcher = await cluster.connect(3, 'portal');
      await cluster.connect(1, 'athena');
      await waitForStatus(watcher, 'athena', 'online');
      expect(await upgradeStatus(cluster.node(2).url, 'agent', cluster.tokens.athena)).toBe(429);
      expect(await upgradeStatus(cluster.node(3).url, 'agent', cluster.tokens.athena)).toBe(429);
    });
  });

  describe('max_connections after a node dies', () => {
    const NODE_TTL_MS = 1_500;
    const c = clusterPerTest({
      store,
      registry: { agents: { athena: { max_connections: 1 } } },
      env: { RELAY_NODE_TTL_MS: String(NODE_TTL_MS) },
    });

    test("a killed node's connections stop counting once its liveness lapses", async () => {
      const { cluster } = c;
      const watcher = await cluster.connect(1, 'portal');
      const agent = await cluster.connect(3, 'athena');
      await waitForStatus(watcher, 'athena', 'online');
      await cluster.node(3).stop('SIGKILL');
      await agent.closed;

      // Until node 3 is known dead its connection still counts; after that, the place is free.
      const deadline = Date.now() + NODE_TTL_MS + 6_000;
      let status = 0;
      while (status !== 101 && Date.now() < deadline) {
        status = await upgradeStatus(cluster.node(2).url, 'agent', cluster.tokens.athena);
        if (status !== 101) {
          expect(status).toBe(429);
          await sleep(100);
        }
      }
      expect(status).toBe(101);
    }, 30_000);
  });

  describe('rate limits', () => {
    const c = clusterPerTest({
      store,
      registry: { apps: { flow: { rate_limit_per_min: 3, hard_rate_limit_per_min: 3 } } },
      // One window longer than any test run, so no window boundary falls inside the test.
      env: { RELAY_RATE_WINDOW_MS: String(1_000_000_000) },
    });

    test("events sent via three nodes count against one budget: past the app's hard limit, RATE_LIMITED everywhere", async () => {
      const { cluster } = c;
      const apps = [await cluster.connect(1, 'flow'), await cluster.connect(2, 'flow'), await cluster.connect(3, 'flow')];
      for (const [i, app] of apps.entries()) {
        expect(await send(app, eventFrame({ thread_id: `flow:rate:${i}` }))).toMatchObject({ type: 'accepted' });
      }
      for (const [i, app] of apps.entries()) {
        const refused = await send(app, eventFrame({ thread_id: `flow:rate:over-${i}`, ref: `over-${i}` }));
        expect(refused).toMatchObject({ type: 'error', code: ErrorCode.RATE_LIMITED, ref: `over-${i}` });
      }
      // another app's budget is its own
      const portal = await cluster.connect(2, 'portal');
      expect(await send(portal, eventFrame())).toMatchObject({ type: 'accepted' });
    });
  });
});
