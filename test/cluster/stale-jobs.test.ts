import { Queue, type Job } from 'bullmq';
import { createKeys } from '../../packages/gateway/src/backends/redis/keys';
import { schedulerPrefixes } from '../../packages/gateway/src/backends/redis/scheduler';
import { ErrorCode } from '@relay/protocol';
import { eventFrame } from '../support/client';
import { clusterPerTest, describeOnStores } from '../support/cluster';
import { finalsFor, recordFrames, send, sleep } from '../support/lifecycle';

// Delayed work runs on BullMQ, on whichever node's worker takes it. A job about an event that
// has already ended (cancelled or answered), or a job run twice, must do nothing: no second
// final frame, and no EVENT_EXPIRED for an event that did not expire.

describeOnStores('stale delayed jobs', (store) => {
  const c = clusterPerTest({ store });

  const TTL_MS = 1_000;

  test('a queued event cancelled via another node before its ttl: one CANCELLED, no EVENT_EXPIRED later', async () => {
    const { cluster } = c;
    const app = await cluster.connect(1, 'portal');
    const canceller = await cluster.connect(2, 'portal');
    const seen = recordFrames(app);
    const cancellerSeen = recordFrames(canceller);
    const accepted = await send(app, eventFrame({ ttl_ms: TTL_MS }));
    const id = accepted.event_id as string;
    expect(accepted.queued).toBe(true);

    canceller.send({ type: 'cancel', event_id: id });
    expect(await app.nextOf('error', id)).toMatchObject({ code: ErrorCode.CANCELLED });
    await sleep(TTL_MS + 1_500); // past the ttl, when the expiry job was due

    expect([...finalsFor(seen, id), ...finalsFor(cancellerSeen, id)]).toHaveLength(1);
    expect([...seen, ...cancellerSeen].filter((f) => f.code === ErrorCode.EVENT_EXPIRED)).toEqual([]);
    const agent = await cluster.connect(3, 'athena');
    await sleep(300);
    expect(agent.frames.filter((f) => f.type === 'event')).toEqual([]);
  }, 15_000);

  test('an event answered before its ttl: no EVENT_EXPIRED when the ttl passes', async () => {
    const { cluster } = c;
    const agent = await cluster.connect(3, 'athena');
    const app = await cluster.connect(1, 'portal');
    const seen = recordFrames(app);
    const accepted = await send(app, eventFrame({ ttl_ms: TTL_MS }));
    const id = accepted.event_id as string;
    await agent.nextOf('event', id);
    agent.send({ type: 'reply', event_id: id, content: 'in time', finish_reason: 'stop' });
    await app.nextOf('reply', id);
    await sleep(TTL_MS + 1_500);
    expect(finalsFor(seen, id)).toHaveLength(1);
    expect(seen.filter((f) => f.type === 'error')).toEqual([]);
    expect(agent.frames.filter((f) => f.type === 'cancel' || f.type === 'error')).toEqual([]);
  }, 15_000);

  test('an event that waited past its ttl ends with one EVENT_EXPIRED at the app on node 1', async () => {
    const { cluster } = c;
    const app = await cluster.connect(1, 'portal');
    const seen = recordFrames(app);
    const accepted = await send(app, eventFrame({ ttl_ms: TTL_MS }));
    const id = accepted.event_id as string;
    expect(await app.nextOf('error', id, TTL_MS + 5_000)).toMatchObject({ code: ErrorCode.EVENT_EXPIRED });
    const agent = await cluster.connect(2, 'athena');
    await sleep(500);
    expect(finalsFor(seen, id)).toHaveLength(1);
    expect(agent.frames.filter((f) => f.type === 'event')).toEqual([]);
  }, 15_000);

  test('expiry jobs run again for a cancelled and an answered event, and run twice, do nothing', async () => {
    const { cluster } = c;
    const agent = await cluster.connect(3, 'athena');
    const app = await cluster.connect(1, 'portal');
    const seen = recordFrames(app);
    const answered = await send(app, eventFrame({ thread_id: 'portal:stale:answered' }));
    const cancelled = await send(app, eventFrame({ thread_id: 'portal:stale:cancelled' }));
    const live = await send(app, eventFrame({ thread_id: 'portal:stale:live' }));
    for (const a of [answered, cancelled, live]) await agent.nextOf('event', a.event_id);
    agent.send({ type: 'reply', event_id: answered.event_id, content: 'done', finish_reason: 'stop' });
    await app.nextOf('reply', answered.event_id);
    app.send({ type: 'cancel', event_id: cancelled.event_id });
    await app.nextOf('error', cancelled.event_id);
    await agent.nextOf('cancel', cancelled.event_id);

    // Jobs as the relay schedules them (queue "relay-tasks" under the cluster's prefix), as if a
    // cancel of the job had lost a race with its run, or BullMQ had handed one out twice.
    const connection = cluster.redis({ maxRetriesPerRequest: null });
    // (on a Redis Cluster the first of its lanes: any lane's jobs are run)
    const queue = new Queue('relay-tasks', { connection, prefix: schedulerPrefixes(createKeys(cluster.prefix), connection.isCluster)[0] });
    try {
      const jobs: Job[] = [];
      for (const a of [answered, cancelled, answered, cancelled]) {
        jobs.push(await queue.add('expire', { kind: 'expire', agentId: 'athena', eventId: a.event_id }, { removeOnComplete: true }));
      }
      jobs.push(await queue.add('release', { kind: 'release', agentId: 'athena', notBefore: Date.now() }, { removeOnComplete: true }));
      // Each is removed once a node's worker has run it.
      const left = async () => (await Promise.all(jobs.map((j) => queue.getJob(j.id as string)))).filter(Boolean).length;
      const deadline = Date.now() + 10_000;
      while ((await left()) > 0) {
        if (Date.now() > deadline) throw new Error('the injected jobs never ran');
        await sleep(50);
      }
      expect(await queue.getJobCounts('failed')).toEqual({ failed: 0 });
    } finally {
      await queue.close();
      await connection.quit();
    }

    await sleep(300);
    expect(finalsFor(seen, answered.event_id)).toHaveLength(1);
    expect(finalsFor(seen, cancelled.event_id)).toHaveLength(1);
    expect(finalsFor(seen, live.event_id)).toEqual([]);
    expect(seen.filter((f) => f.code === ErrorCode.EVENT_EXPIRED)).toEqual([]);
    expect(agent.frames.filter((f) => f.type === 'event' || f.type === 'cancel' || f.type === 'error')).toEqual([]);

    // The live event was untouched: it is still the agent's to answer.
    agent.send({ type: 'reply', event_id: live.event_id, content: 'still mine', finish_reason: 'stop' });
    expect(await app.nextOf('reply', live.event_id)).toMatchObject({ content: 'still mine' });
  }, 20_000);
});
