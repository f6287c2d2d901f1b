import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { taskId, type Scheduler, type Task } from '../../ports';

const QUEUE = 'relay-tasks';

/**
 * Tasks as delayed BullMQ jobs, run by whichever node's worker takes them first, so a task
 * survives the node that scheduled it. A failing task is retried with exponential backoff.
 */
export function createRedisScheduler(
  connection: Redis,
  prefix: string,
  onError: (err: unknown, task: Task) => void,
): Scheduler {
  const queue = new Queue<Task>(QUEUE, { connection, prefix });
  let handler: ((task: Task) => Promise<void>) | undefined;
  let worker: Worker<Task> | undefined;
  return {
    async at(time, task) {
      await queue.add(task.kind, task, {
        jobId: taskId(task), // the same task is never queued twice
        delay: Math.max(0, time - Date.now()),
        attempts: 8,
        backoff: { type: 'exponential', delay: 500 },
        removeOnComplete: true,
        removeOnFail: { age: 24 * 3600 },
      });
    },
    async cancel(task) {
      await queue.remove(taskId(task));
    },
    onDue(h) {
      handler = h;
      worker ??= new Worker<Task>(
        QUEUE,
        async (job) => {
          try {
            await (handler as (task: Task) => Promise<void>)(job.data);
          } catch (err) {
            onError(err, job.data);
            throw err; // BullMQ retries it with backoff
          }
        },
        { connection, prefix, concurrency: 16 },
      );
      worker.on('error', (err) => onError(err, { kind: 'release', agentId: '', notBefore: 0 }));
    },
    async close() {
      await worker?.close();
      await queue.close();
    },
  };
}
