import { DelayedError, Queue, Worker } from 'bullmq';
import type { RedisClient } from './connect';
import { taskId, type Scheduler, type Task } from '../../ports';

const QUEUE = 'relay-tasks';

/**
 * Tasks as delayed BullMQ jobs, run by whichever node's worker takes them first, so a task
 * survives the node that scheduled it. A failing task is retried with exponential backoff.
 * `onError` gets the task whose run failed, or no task for a failure of the worker itself.
 */
export function createRedisScheduler(
  connection: RedisClient,
  prefix: string,
  onError: (err: unknown, task?: Task) => void,
): Scheduler {
  const queue = new Queue<Task>(QUEUE, { connection, prefix });
  let handler: ((task: Task) => Promise<void>) | undefined;
  let worker: Worker<Task> | undefined;
  /**
   * Tasks this node's worker is running, with the earliest time each was scheduled for again
   * meanwhile: BullMQ would take the running job for the new one and drop it.
   */
  const running = new Map<string, { again?: number }>();
  const add = (time: number, task: Task) =>
    queue.add(task.kind, task, {
      jobId: taskId(task), // the same task is never queued twice
      delay: Math.max(0, time - Date.now()),
      attempts: 8,
      backoff: { type: 'exponential', delay: 500 },
      removeOnComplete: true,
      removeOnFail: { age: 24 * 3600 },
    });
  return {
    async at(time, task) {
      const id = taskId(task);
      const mine = running.get(id);
      if (mine) {
        mine.again = Math.min(mine.again ?? time, time);
        return;
      }
      const existing = await queue.getJob(id);
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
      await queue.remove(taskId(task));
    },
    onDue(h) {
      handler = h;
      worker ??= new Worker<Task>(
        QUEUE,
        async (job, token) => {
          const id = job.id as string;
          const run: { again?: number } = {};
          running.set(id, run);
          try {
            await (handler as (task: Task) => Promise<void>)(job.data);
          } catch (err) {
            onError(err, job.data);
            throw err; // BullMQ retries it with backoff
          } finally {
            running.delete(id);
          }
          if (run.again === undefined) return;
          await job.moveToDelayed(run.again, token);
          throw new DelayedError(); // not a failure: BullMQ keeps the job, delayed
        },
        { connection, prefix, concurrency: 16 },
      );
      worker.on('error', (err) => onError(err));
    },
    async close() {
      await worker?.close();
      await queue.close();
    },
  };
}
