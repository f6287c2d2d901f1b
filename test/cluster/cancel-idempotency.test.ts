import { ErrorCode } from '@relay/protocol';
import { eventFrame } from '../support/client';
import { clusterPerTest, describeOnStores, registered } from '../support/cluster';
import { finalsFor, recordFrames, send, sleep } from '../support/lifecycle';

// Cancel and idempotency keys are cluster-wide: the node that takes the cancel or the resend
// need not be the one that accepted the event, nor the one holding the agent's socket.

describeOnStores('cancel and idempotency across nodes', (store) => {
  const c = clusterPerTest({ store });

  describe('cancel across nodes', () => {
    test('a cancel via node 2 of an event accepted via node 1 reaches the agent on node 3; one CANCELLED', async () => {
      const { cluster } = c;
      const agent = await cluster.connect(3, 'athena');
      const sender = await cluster.connect(1, 'portal');
      const canceller = await cluster.connect(2, 'portal');
      const senderSeen = recordFrames(sender);
      const cancellerSeen = recordFrames(canceller);
      const accepted = await send(sender, eventFrame());
      const id = accepted.event_id as string;
      await agent.nextOf('event', id);
      agent.send({ type: 'token', event_id: id, token: 'working' });
      await sender.nextOf('token', id);

      canceller.send({ type: 'cancel', event_id: id, ref: 'stop-it' });
      expect(await agent.nextOf('cancel', id)).toEqual({ type: 'cancel', event_id: id });
      const cancelled = await sender.nextOf('error', id);
      expect(cancelled).toMatchObject({ code: ErrorCode.CANCELLED, event_id: id });
      expect(cancelled.ref).toBeUndefined(); // the ref was the other connection's

      // The agent's late frames for it are refused and reach no one.
      agent.send({ type: 'reply', event_id: id, content: 'too late', finish_reason: 'stop', ref: 'late' });
      expect(await agent.nextOf('error', id)).toMatchObject({ code: ErrorCode.UNKNOWN_EVENT, ref: 'late' });
      await sleep(300);
      expect([...finalsFor(senderSeen, id), ...finalsFor(cancellerSeen, id)]).toHaveLength(1);
      expect(senderSeen.filter((f) => f.type === 'reply')).toEqual([]);
    });

    test('a waiting event cancelled via another node is never delivered, and a second cancel is refused', async () => {
      const { cluster } = c;
      const sender = await cluster.connect(1, 'portal');
      const canceller = await cluster.connect(3, 'portal');
      const senderSeen = recordFrames(sender);
      const cancellerSeen = recordFrames(canceller);
      const first = await send(sender, eventFrame({ thread_id: 'portal:cx:1' }));
      const second = await send(sender, eventFrame({ thread_id: 'portal:cx:2' }));
      expect(first.queued).toBe(true);

      canceller.send({ type: 'cancel', event_id: first.event_id });
      expect(await sender.nextOf('error', first.event_id)).toMatchObject({ code: ErrorCode.CANCELLED });
      canceller.send({ type: 'cancel', event_id: first.event_id, ref: 'again' });
      expect(await canceller.nextOf('error', first.event_id)).toMatchObject({ code: ErrorCode.UNKNOWN_EVENT, ref: 'again' });

      const agent = await cluster.connect(2, 'athena');
      const event = await agent.nextOf('event');
      expect(event.event_id).toBe(second.event_id); // the cancelled one was skipped
      agent.send({ type: 'reply', event_id: second.event_id, content: 'ok', finish_reason: 'stop' });
      await sender.nextOf('reply', second.event_id);
      await sleep(300);
      expect(agent.frames.filter((f) => f.event_id === first.event_id)).toEqual([]);
      expect([...finalsFor(senderSeen, first.event_id), ...finalsFor(cancellerSeen, first.event_id)]).toHaveLength(1);
    });
  });

  describe('idempotency across nodes', () => {
    test('a resend via node 2 of an event sent via node 1 returns the same event; the agent gets it once', async () => {
      const { cluster } = c;
      const agent = await cluster.connect(3, 'athena');
      const first = await cluster.connect(1, 'portal');
      const second = await cluster.connect(2, 'portal');
      const firstSeen = recordFrames(first);
      const secondSeen = recordFrames(second);
      const frame = eventFrame({ idempotency_key: 'comment-456-v1' });
      const accepted = await send(first, frame);
      const id = accepted.event_id as string;
      await agent.nextOf('event', id);

      const again = await send(second, frame);
      expect(again).toMatchObject({ type: 'accepted', event_id: id, session_key: accepted.session_key });
      await sleep(300);
      expect(agent.frames.filter((f) => f.type === 'event')).toEqual([]);

      agent.send({ type: 'reply', event_id: id, content: 'once', finish_reason: 'stop' });
      const finals = async () => [...finalsFor(firstSeen, id), ...finalsFor(secondSeen, id)];
      await sleep(500);
      expect(await finals()).toHaveLength(1);
      expect((await finals())[0]).toMatchObject({ type: 'reply', content: 'once' });
    });

    test('an app that lost its connection resends via another node: tokens and reply follow it there', async () => {
      const { cluster } = c;
      const agent = await cluster.connect(3, 'athena');
      const lost = await cluster.connect(1, 'portal');
      const frame = eventFrame({ idempotency_key: 'resend-after-loss' });
      const accepted = await send(lost, frame);
      const id = accepted.event_id as string;
      await agent.nextOf('event', id);
      lost.ws.terminate();
      await lost.closed;

      const back = await cluster.connect(2, 'portal');
      const backSeen = recordFrames(back);
      expect(await send(back, frame)).toMatchObject({ type: 'accepted', event_id: id });
      // The news that the app moved reaches node 3 through Redis; tokens are live only, so one
      // sent in that instant may still go to the old connection.
      await sleep(200);
      for (const token of ['a', 'b', 'c']) agent.send({ type: 'token', event_id: id, token });
      agent.send({ type: 'reply', event_id: id, content: 'abc', finish_reason: 'stop' });
      expect(await back.nextOf('reply', id)).toMatchObject({ content: 'abc', metadata: { tokens_used: 3 } });
      expect(backSeen.filter((f) => f.type === 'token').map((t) => [t.token, t.seq])).toEqual([
        ['a', 0],
        ['b', 1],
        ['c', 2],
      ]);
      await sleep(300);
      expect(finalsFor(backSeen, id)).toHaveLength(1);
      expect(agent.frames.filter((f) => f.type === 'event')).toEqual([]);
    });

    test('the same key sent via two nodes at once makes one event', async () => {
      const { cluster } = c;
      const a = await cluster.connect(1, 'portal');
      const b = await cluster.connect(2, 'portal');
      await registered(a);
      await registered(b);
      const frame = eventFrame({ idempotency_key: 'racing-key' });
      const [fromA, fromB] = await Promise.all([send(a, frame), send(b, frame)]);
      expect(fromA.type).toBe('accepted');
      expect(fromB.event_id).toBe(fromA.event_id);

      const agent = await cluster.connect(3, 'athena');
      await agent.nextOf('event', fromA.event_id);
      await sleep(300);
      expect(agent.frames.filter((f) => f.type === 'event')).toEqual([]);
    });
  });
});
