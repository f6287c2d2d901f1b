import { Redis } from 'ioredis';
import { sessionKey } from '@relay/protocol';
import { createKeys } from '../../packages/gateway/src/backends/redis/keys';
import { createRedisEventStore } from '../../packages/gateway/src/backends/redis/event-store';
import { defineScripts } from '../../packages/gateway/src/backends/redis/scripts';
import { newEventId } from '../../packages/gateway/src/ids';
import { eventFrame } from '../support/client';
import { clusterPerTest } from '../support/cluster';
import { finalsFor, recordFrames, send, sleep } from '../support/lifecycle';

// A node that dies (or loses Redis) after recording an event but before queueing it never
// answers `accepted`, so the app resends it with the same idempotency key. That resend finds
// the record and must queue the event, or it is accepted and never delivered. (Found by the
// chaos test, where Redis restarted between the two writes.)

const c = clusterPerTest();

/** Records an event the way a node does, and then, like a node that died, never queues it. */
async function recordWithoutQueueing(url: string, prefix: string, key: string): Promise<string> {
  const client = new Redis(url);
  try {
    const events = createRedisEventStore(client, defineScripts(client), createKeys(prefix));
    const now = Date.now();
    const frame = eventFrame({ thread_id: 'portal:half-written:1' });
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
    return record.id;
  } finally {
    await client.quit();
  }
}

test('a resend of an event recorded but never queued is queued, delivered and answered once', async () => {
  const { cluster, redis } = c;
  const agent = await cluster.connect(3, 'athena');
  const app = await cluster.connect(1, 'portal');
  const seen = recordFrames(app);
  const id = await recordWithoutQueueing(redis.url, cluster.prefix, 'half-written');

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
