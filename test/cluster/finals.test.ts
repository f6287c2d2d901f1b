import { ErrorCode } from '@relay/protocol';
import { eventFrame } from '../support/client';
import { clusterPerTest, describeOnStores, registered } from '../support/cluster';
import { finalsFor, recordFrames, send, sleep } from '../support/lifecycle';

// A final frame whose app connection is gone still reaches the app: another of its connections
// on another node, or, with none open, its next connection on any node.

describeOnStores('final frames across nodes', (store) => {
  const c = clusterPerTest({ store });

  /**
   * The agent on node 3, the app on node 1 (the sender) and node 2 (the other, recorded from the
   * start): one event sent and delivered to the agent, unanswered.
   */
  const deliveredWithAnotherAppConnection = async () => {
    const { cluster } = c;
    const agent = await cluster.connect(3, 'athena');
    const sender = await cluster.connect(1, 'portal');
    const other = await cluster.connect(2, 'portal');
    await registered(other);
    const otherSeen = recordFrames(other);
    const accepted = await send(sender, eventFrame());
    const id = accepted.event_id as string;
    await agent.nextOf('event', id);
    return { agent, sender, other, otherSeen, id };
  };

  test("a reply for an app connection that dropped reaches the app's connection on another node", async () => {
    const { agent, sender, other, otherSeen, id } = await deliveredWithAnotherAppConnection();
    agent.send({ type: 'token', event_id: id, token: 'partial ' });
    await sender.nextOf('token', id);
    await sender.close();
    await sleep(200); // the close reaches Redis

    agent.send({ type: 'reply', event_id: id, content: 'the answer', finish_reason: 'stop' });
    const reply = await other.nextOf('reply', id);
    expect(reply).toMatchObject({ content: 'the answer', agent_id: 'athena' });
    await sleep(300);
    expect(finalsFor(otherSeen, id)).toHaveLength(1);
    // the final brings the attempt's recorded tokens first: the other connection never saw them live
    expect(otherSeen.filter((f) => f.event_id === id).map((f) => (f.type === 'token' ? `token ${f.seq as number} ${f.token as string}` : f.type))).toEqual([
      'token 0 partial ',
      'reply',
    ]);
  });

  test('a reply that comes while the app connection is closing is not lost', async () => {
    const { agent, sender, other, otherSeen, id } = await deliveredWithAnotherAppConnection();

    // No pause: the reply races the close of the connection it is bound for.
    sender.ws.terminate();
    agent.send({ type: 'reply', event_id: id, content: 'raced', finish_reason: 'stop' });
    await sender.closed;
    expect(await other.nextOf('reply', id)).toMatchObject({ content: 'raced' });
    await sleep(300);
    expect(finalsFor(otherSeen, id)).toHaveLength(1);
  });

  test("with no connection open, finals wait for the app's next connection, on any node", async () => {
    const { cluster } = c;
    const agent = await cluster.connect(2, 'athena');
    const sender = await cluster.connect(1, 'portal');
    const answered = await send(sender, eventFrame());
    // klyve is offline: this one waits, expires, and its final error finds no connection either
    const expiring = await send(sender, eventFrame({ agent_id: 'klyve', thread_id: 'portal:expiring:1', ttl_ms: 500 }));
    expect(expiring.queued).toBe(true);
    const id = answered.event_id as string;
    await agent.nextOf('event', id);
    await sender.close();
    await sleep(200);

    agent.send({ type: 'reply', event_id: id, content: 'held for you', finish_reason: 'stop', metadata: { model: 'm' } });
    await sleep(1_500); // the reply is held in Redis, and the expiry has run on some node

    // Held frames are written as the socket opens: read them from the client, not a recorder
    // attached after the connect resolved.
    const next = await cluster.connect(3, 'portal');
    expect(await next.nextOf('reply', id)).toMatchObject({ content: 'held for you', metadata: { model: 'm' } });
    expect(await next.nextOf('error', expiring.event_id)).toMatchObject({ code: ErrorCode.EVENT_EXPIRED });
    await sleep(300);
    expect(finalsFor(next.frames, id)).toEqual([]); // no second copy after the one taken
    expect(finalsFor(next.frames, expiring.event_id)).toEqual([]);
    await next.close();

    // Nothing is held twice: a later connection on another node gets nothing.
    const later = await cluster.connect(1, 'portal');
    const laterSeen = recordFrames(later);
    await registered(later);
    await sleep(300);
    expect(laterSeen.filter((f) => f.event_id !== undefined)).toEqual([]);
    expect(later.frames.filter((f) => f.event_id !== undefined)).toEqual([]);
  });
});
