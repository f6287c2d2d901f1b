import { sessionKey } from '@relay/protocol';
import { createKeys } from '../../packages/gateway/src/backends/redis/keys';
import { createRedisDeliveryQueue } from '../../packages/gateway/src/backends/redis/delivery-queue';
import { createRedisEventStore } from '../../packages/gateway/src/backends/redis/event-store';
import { scriptRunner } from '../../packages/gateway/src/backends/redis/scripts';
import { newEventId } from '../../packages/gateway/src/ids';
import { eventFrame } from '../support/client';
import { clusterPerTest, describeOnStores, waitForStatus, type Cluster } from '../support/cluster';
import { finalsFor, recordFrames, send, sleep } from '../support/lifecycle';

// A node that dies (or loses Redis) after recording an event but before queueing it never
// answers `accepted`, so the app resends it with the same idempotency key. That resend finds
// the record and must queue the event, or it is accepted and never delivered. Likewise for a
// node that dies after queueing it (assigned to an agent connection on another node) but before
// sending it there: the resend sends it. (The first was found by the chaos test, where Redis
// restarted between the two writes; the second while looking at why.)

describeOnStores('an event recorded by a node that died', (store) => {
  const c = clusterPerTest({ store });

  /**
   * Records an event the way a node does, then, like a node that died, stops: before queueing it,
   * or (`queue`) after queueing it but before sending it to the agent connection it was assigned.
   */
  async function recordAndDie(cluster: Cluster, key: string, thread: string, queue = false): Promise<string> {
    const client = cluster.redis();
    try {
      const run = scriptRunner(client);
      const keys = createKeys(cluster.prefix);
      const events = createRedisEventStore(client, run, keys, { finishedRetentionMs: 60_000 });
      const now = Date.now();
      const frame = eventFrame({ thread_id: thread });
      const { record } = await events.append(
        {
          id: newEventId(now),
          appId: 'portal',
          agentId: 'athena',
          threadId: frame.thread_id,
          sessionKey: sessionKey('athena', frame.thread_id),
          payloadRaw: JSON.stringify(frame.payload),
          acceptedAt: now,
          expiresAt: now + 3_600_000,
          appConnId: 'a-node-that-died.1',
        },
        key,
        86_400_000,
      );
      if (queue) {
        const deliveries = createRedisDeliveryQueue(client, run, keys);
        const { sessionKey: session, expiresAt } = record;
        const order = await events.nextOrder('athena');
        const result = await deliveries.enqueue({ eventId: record.id, agentId: 'athena', sessionKey: session, order, notBefore: 0, expiresAt });
        expect(result.assigned.map((a) => a.eventId)).toEqual([record.id]);
      }
      return record.id;
    } finally {
      await client.quit();
    }
  }

  test('a resend of an event recorded but never queued is queued, delivered and answered once', async () => {
    const { cluster } = c;
    const agent = await cluster.connect(3, 'athena');
    const app = await cluster.connect(1, 'portal');
    const seen = recordFrames(app);
    const id = await recordAndDie(cluster, 'half-written', 'portal:half-written:1');

    const accepted = await send(app, eventFrame({ thread_id: 'portal:half-written:1', idempotency_key: 'half-written' }));
    expect(accepted).toMatchObject({ type: 'accepted', event_id: id });
    const event = await agent.nextOf('event', id);
    expect(event).toMatchObject({ attempt: 1, payload: eventFrame().payload });
    agent.send({ type: 'token', event_id: id, token: 'found' });
    agent.send({ type: 'reply', event_id: id, content: 'found it', finish_reason: 'stop' });
    expect(await app.nextOf('token', id)).toMatchObject({ token: 'found', seq: 0 });
    expect(await app.nextOf('reply', id)).toMatchObject({ content: 'found it' });

    // Resent again, via another node, once answered: the same event, neither queued nor delivered again.
    const other = await cluster.connect(2, 'portal');
    const again = await send(other, eventFrame({ thread_id: 'portal:half-written:1', idempotency_key: 'half-written' }));
    expect(again).toMatchObject({ type: 'accepted', event_id: id });
    await sleep(500);
    expect(finalsFor(seen, id)).toHaveLength(1);
    expect(agent.frames.filter((f) => f.type === 'event')).toEqual([]);
  });

  test('a resend of an event assigned to an agent connection but never sent there sends it, once', async () => {
    const { cluster } = c;
    const agent = await cluster.connect(3, 'athena');
    const app = await cluster.connect(1, 'portal');
    await waitForStatus(app, 'athena', 'online'); // its connection is attached: the event is assigned to it
    const id = await recordAndDie(cluster, 'never-sent', 'portal:never-sent:1', true);
    await sleep(300);
    expect(agent.frames).toEqual([]);

    const accepted = await send(app, eventFrame({ thread_id: 'portal:never-sent:1', idempotency_key: 'never-sent' }));
    expect(accepted).toMatchObject({ type: 'accepted', event_id: id });
    expect(await agent.nextOf('event', id)).toMatchObject({ attempt: 1 });
    agent.send({ type: 'reply', event_id: id, content: 'sent at last', finish_reason: 'stop' });
    expect(await app.nextOf('reply', id)).toMatchObject({ content: 'sent at last' });
  });

  test('a resend of an event already queued or in flight does not deliver it a second time', async () => {
    const { cluster } = c;
    const agent = await cluster.connect(2, 'athena');
    const app = await cluster.connect(1, 'portal');
    const first = await send(app, eventFrame({ thread_id: 'portal:in-flight:1', idempotency_key: 'in-flight' }));
    const id = first.event_id as string;
    await agent.nextOf('event', id);

    const other = await cluster.connect(3, 'portal');
    expect(await send(other, eventFrame({ thread_id: 'portal:in-flight:1', idempotency_key: 'in-flight' }))).toMatchObject({
      event_id: id,
    });
    agent.send({ type: 'reply', event_id: id, content: 'once', finish_reason: 'stop' });
    expect(await other.nextOf('reply', id)).toMatchObject({ content: 'once' });
    await sleep(500);
    expect(agent.frames.filter((f) => f.type === 'event')).toEqual([]);
  });
});
