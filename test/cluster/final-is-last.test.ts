import { ErrorCode } from '@relay/protocol';
import { eventFrame } from '../support/client';
import { clusterPerTest, describeOnStores } from '../support/cluster';
import { recordFrames, send, sleep } from '../support/lifecycle';

// The final frame is the last frame of its event at the app, even when it is decided on the
// app's node (a cancel) while the agent's node is still sending tokens over the bus.

describeOnStores('the final frame is the last', (store) => {
  const c = clusterPerTest({ store });

  test('no token reaches the app after its event was cancelled, though the agent keeps streaming', async () => {
    const { cluster } = c;
    const agent = await cluster.connect(2, 'athena');
    const app = await cluster.connect(1, 'portal');
    const seen = recordFrames(app);
    const accepted = await send(app, eventFrame());
    const id = accepted.event_id as string;
    await agent.nextOf('event', id);

    // The agent streams without pause and never looks at cancel frames.
    let streaming = true;
    const stream = (async () => {
      for (let i = 0; streaming && i < 5_000; i++) {
        agent.send({ type: 'token', event_id: id, token: `t${i} ` });
        if (i % 20 === 19) await sleep(1);
      }
    })();
    await app.nextOf('token', id);
    app.send({ type: 'cancel', event_id: id });
    await app.nextOf('error', id);
    await sleep(300); // tokens already on the bus arrive, or are dropped, meanwhile
    streaming = false;
    await stream;

    const ours = seen.filter((f) => f.event_id === id).map((f) => f.type as string);
    const finalAt = ours.indexOf('error');
    expect(seen.find((f) => f.type === 'error' && f.event_id === id)).toMatchObject({ code: ErrorCode.CANCELLED });
    expect(ours.slice(finalAt + 1)).toEqual([]);
    expect(ours.filter((t) => t === 'token').length).toBeGreaterThan(0);
  }, 30_000);
});
