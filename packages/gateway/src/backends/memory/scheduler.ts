import { createInProgress } from '../../in-progress';
import { taskId, type Scheduler, type Task } from '../../ports';

/**
 * Timers in this process. A task scheduled again under the same key keeps the earlier time, so
 * one release timer per agent and due time serves every event held until then.
 */
export function createMemoryScheduler(onError: (err: unknown, task: Task) => void): Scheduler {
  const timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  let handler: ((task: Task) => Promise<void>) | undefined;
  /** Tasks that fell due before a handler was installed, by key. */
  const waiting = new Map<string, Task>();
  const runs = createInProgress();
  const run = (key: string, task: Task, at: number) => {
    // Node timers may fire a millisecond early by Date.now(); a release run then finds its held
    // events not yet due and nothing would wake them again. So a task never runs before `at`.
    const early = at - Date.now();
    if (early > 0) {
      timers.set(key, { at, timer: setTimeout(() => run(key, task, at), early) });
      return;
    }
    timers.delete(key);
    if (!handler) {
      waiting.set(key, task);
      return;
    }
    void runs.add(handler(task).catch((err) => onError(err, task)));
  };
  return {
    async at(time, task) {
      const key = taskId(task);
      if (waiting.has(key)) return; // already due
      const existing = timers.get(key);
      if (existing && existing.at <= time) return;
      if (existing) clearTimeout(existing.timer);
      const timer = setTimeout(() => run(key, task, time), Math.max(0, time - Date.now()));
      timers.set(key, { at: time, timer });
    },
    async cancel(task) {
      const key = taskId(task);
      const existing = timers.get(key);
      if (existing) clearTimeout(existing.timer);
      timers.delete(key);
      waiting.delete(key);
    },
    onDue(h) {
      handler = h;
      const due = [...waiting];
      waiting.clear();
      for (const [key, task] of due) run(key, task, 0);
    },
    async close() {
      for (const { timer } of timers.values()) clearTimeout(timer);
      timers.clear();
      waiting.clear();
      await runs.settled();
    },
  };
}
