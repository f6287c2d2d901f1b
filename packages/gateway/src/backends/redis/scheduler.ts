import { DelayedError, Queue, Worker, type Job } from 'bullmq';
import type { RedisClient } from './connect';
import { createExpirySweep } from './expiry-sweep';
import { createInProgress } from '../../in-progress';
import type { RunScript } from './scripts';
import type { Keys } from './keys';
import { keySlot } from './slot';
import { taskId, type Scheduler, type Task } from '../../ports';

const QUEUE = 'relay-tasks';
const SLOTS = 16_384;
/** Queues ("lanes") on a Redis Cluster: two per shard of a three-primary cluster, one of six. */
export const CLUSTER_LANES = 6;
/** How long `close` waits for the workers' fetch loops once no task runs here. */
const FETCH_LOOP_CLOSE_MS = 1_000;

/**
 * The BullMQ prefix of each lane of the scheduler. On one primary one queue, under the prefix it
 * always had. On a Redis Cluster a queue's keys must share a slot, so one queue would put every
 * event's delayed tasks on one shard (the busiest, in bench:cluster --shards 3): there are
 * CLUSTER_LANES queues instead, whose tags are picked so that their slots fall in evenly spaced
 * ranges of the 16,384, so shards holding even slot ranges (as `redis-cli --cluster create` and
 * managed services lay them out) each get their share. A task always goes to the same lane.
 */
export function schedulerPrefixes(keys: Keys, onCluster: boolean): string[] {
  if (!onCluster) return [keys.bullPrefix];
  const prefixes: string[] = [];
  for (let n = 0; prefixes.length < CLUSTER_LANES; n++) {
    const candidate = keys.bullLanePrefix(n);
    if (Math.floor((keySlot(candidate) * CLUSTER_LANES) / SLOTS) === prefixes.length) prefixes.push(candidate);
  }
  return prefixes;
}

/**
 * Tasks as delayed BullMQ jobs, run by whichever node's worker takes them first, so a task
 * survives the node that scheduled it. A failing task is retried with exponential backoff.
 * Event expiries, one per event, are not jobs but members of a swept sorted set per lane
 * (expiry-sweep.ts); the worker still runs an expiry job an older version left.
 * `onError` gets the task whose run failed, or no task for a failure of the worker itself.
 * `connection` is BullMQ's; `client` and `runScript` the backend's commands and scripts.
 */
export function createRedisScheduler(
  connection: RedisClient,
  client: RedisClient,
  runScript: RunScript,
  keys: Keys,
  onError: (err: unknown, task?: Task) => void,
): Scheduler {
  const prefixes = schedulerPrefixes(keys, connection.isCluster);
  const expiries = createExpirySweep(client, runScript, prefixes.map(keys.expiries), onError);
  const queues = prefixes.map((prefix) => new Queue<Task>(QUEUE, { connection, prefix }));
  const queueOf = (id: string) => queues[keySlot(id) % queues.length] as Queue<Task>;
  // A queue's first command waits for its set-up (hundreds of ms on a cluster): every lane's
  // starts now, not when a task first lands on it, so a task is not late by that much.
  for (const queue of queues) queue.waitUntilReady().catch(() => {}); // failures: on the command
  let handler: ((task: Task) => Promise<void>) | undefined;
  const workers: Worker<Task>[] = [];
  /**
   * Tasks this node's workers are running, with the earliest time each was scheduled for again
   * meanwhile: BullMQ would take the running job for the new one and drop it.
   */
  const running = new Map<string, { again?: number }>();
  /** The runs of jobs on this node, for `close`. */
  const runs = createInProgress();
  const run = (job: Job<Task>, token?: string) => runs.add(runJob(job, token));
  const runJob = async (job: Job<Task>, token?: string) => {
    const id = job.id as string;
    const mine: { again?: number } = {};
    running.set(id, mine);
    try {
      await (handler as (task: Task) => Promise<void>)(job.data);
    } catch (err) {
      onError(err, job.data);
      throw err; // BullMQ retries it with backoff
    } finally {
      running.delete(id);
    }
    if (mine.again === undefined) return;
    await job.moveToDelayed(mine.again, token);
    throw new DelayedError(); // not a failure: BullMQ keeps the job, delayed
  };
  const add = (time: number, task: Task) =>
    queueOf(taskId(task)).add(task.kind, task, {
      jobId: taskId(task), // the same task is never queued twice
      delay: Math.max(0, time - Date.now()),
      attempts: 8,
      backoff: { type: 'exponential', delay: 500 },
      removeOnComplete: true,
      removeOnFail: { age: 24 * 3600 },
    });
  return {
    async at(time, task) {
      if (task.kind === 'expire') return expiries.at(time, task);
      const id = taskId(task);
      const mine = running.get(id);
      if (mine) {
        mine.again = Math.min(mine.again ?? time, time);
        return;
      }
      const existing = await queueOf(id).getJob(id);
      if (!existing) return void (await add(time, task));
      // A job that gave up (failed for good) still holds the id for a day: this is a new run.
      if (existing.finishedOn) {
        await existing.remove();
        return void (await add(time, task));
      }
      if (existing.timestamp + existing.delay <= time) return;
      // Due later than asked: made anew, so its timestamp and delay keep saying when it is due
      // (changeDelay would not move the timestamp). One no longer delayed runs now, earlier still.
      if ((await existing.getState()) !== 'delayed') return;
      await existing.remove();
      await add(time, task);
    },
    async cancel(task) {
      if (task.kind === 'expire') return expiries.cancel(task);
      const id = taskId(task);
      await queueOf(id).remove(id);
    },
    onDue(h) {
      handler = h;
      expiries.start(h);
      if (workers.length > 0) return;
      for (const prefix of prefixes) {
        const worker = new Worker<Task>(QUEUE, run, { connection, prefix, concurrency: 16 });
        worker.on('error', (err) => onError(err));
        workers.push(worker);
      }
    },
    async close() {
      await expiries.close();
      // A worker's close waits for its fetch loop too, and after a Redis Cluster failover a fetch
      // blocked on the shard's old primary can stay pending for good (BullMQ 6.7 on ioredis 5's
      // Cluster; its close has unbounded waits, taskforcesh/bullmq#4656): every stop then took
      // the node's whole grace. What must end is this node's runs, so their jobs are marked
      // done; the loop gets a short while after them, no more.
      const closed = Promise.all(workers.map((w) => w.close()));
      const runsEnded = (async () => {
        await runs.settled();
        await new Promise((resolve) => setTimeout(resolve, FETCH_LOOP_CLOSE_MS).unref());
      })();
      await Promise.race([closed, runsEnded]);
      await Promise.all(queues.map((q) => q.close()));
    },
  };
}
