import { eventFrame } from '../support/client';
import { clusterPerTest, describeOnStores, waitForStatus } from '../support/cluster';
import { finalsFor, recordFrames, send, sleep } from '../support/lifecycle';

// A node paused past its TTL (a long GC, a frozen VM) is given up for dead: the others reap it.
// When it wakes it drops its sockets, and its clients may come straight back to it. If it then
// dies for good, it must be reaped again within the TTL, not only once the lock the first
// reaper took has lapsed. (Found by the chaos test: a node whose liveness lapsed while Redis
// restarted, killed soon after, kept its agent's events for half a minute.)

const NODE_TTL_MS = 1_500;
/** TTL, plus a beat interval and the local liveness cache, with room for a loaded machine. */
const NOTICED_MS = NODE_TTL_MS + 6_000;

describeOnStores('a paused node', (store) => {
  const c = clusterPerTest({ store, env: { RELAY_NODE_TTL_MS: String(NODE_TTL_MS) } });

  test("a paused node drops its sockets when it wakes; killed later, its agent's event is redelivered within the TTL", async () => {
    const { cluster } = c;
    const app = await cluster.connect(1, 'portal');
    const seen = recordFrames(app);
    const first = await cluster.connect(3, 'athena');
    await waitForStatus(app, 'athena', 'online');

    cluster.node(3).proc.kill('SIGSTOP');
    await waitForStatus(app, 'athena', 'offline', NOTICED_MS);
    await sleep(NODE_TTL_MS); // a few beats of the others: one of them reaps node 3
    cluster.node(3).proc.kill('SIGCONT');
    expect(await first.closed).toMatchObject({ code: 1001 }); // it woke, found itself given up

    const back = await cluster.connect(3, 'athena'); // the same node serves again
    await waitForStatus(app, 'athena', 'online');
    const accepted = await send(app, eventFrame({ thread_id: 'portal:paused:1' }));
    const id = accepted.event_id as string;
    expect(await back.nextOf('event', id)).toMatchObject({ attempt: 1 });

    expect(await cluster.node(3).stop('SIGKILL')).toBe('SIGKILL');
    const elsewhere = await cluster.connect(2, 'athena');
    expect(await elsewhere.nextOf('event', id, NOTICED_MS)).toMatchObject({ attempt: 2 });
    elsewhere.send({ type: 'reply', event_id: id, content: 'after the pause', finish_reason: 'stop' });
    expect(await app.nextOf('reply', id)).toMatchObject({ content: 'after the pause' });
    await sleep(300);
    expect(finalsFor(seen, id)).toHaveLength(1);
  }, 40_000);
});
