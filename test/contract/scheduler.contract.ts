import type { Scheduler, Task } from '../../packages/gateway/src/ports';

export interface SchedulerUnderTest {
  /** A scheduler whose handler is not installed yet. */
  scheduler: Scheduler;
  /** The tasks whose handler failed, as the scheduler reported them. */
  failed: Task[];
  /** Another node's scheduler on the same backend, for a backend that several nodes share. */
  peer?: () => Scheduler;
  teardown(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

let counter = 0;
const expire = (): Task => ({ kind: 'expire', agentId: 'athena', eventId: `evt_sched_${process.pid}_${++counter}` });

interface Run {
  task: Task;
  at: number;
}

/**
 * Scheduler (ports/scheduler.ts): each task runs at least once, not before its time; the same
 * task scheduled twice is kept once, at the earlier time; a cancelled task does not run; tasks
 * due before the handler is installed wait for it; close waits for the runs under way.
 */
export function schedulerContract(name: string, create: () => Promise<SchedulerUnderTest>, options: { shared: boolean }) {
  describe(`Scheduler contract (${name})`, () => {
    let under: SchedulerUnderTest;
    let runs: Run[];
    const record = (s: Scheduler, onRun: (task: Task) => Promise<void> = async () => {}) =>
      s.onDue(async (task) => {
        runs.push({ task, at: Date.now() });
        await onRun(task);
      });
    const runsOf = (task: Task) => runs.filter((r) => JSON.stringify(r.task) === JSON.stringify(task));
    beforeEach(async () => {
      runs = [];
      under = await create();
    });
    afterEach(async () => under.teardown());

    test('a task runs once, not before its time, with what it was scheduled with', async () => {
      record(under.scheduler);
      const task: Task = { kind: 'token-expiry', role: 'agent', principalId: 'athena', tokenId: 'abc123' };
      const at = Date.now() + 150;
      await under.scheduler.at(at, task);
      await until(() => runs.length === 1, 'the task');
      expect(runs[0]!.task).toEqual(task);
      expect(runs[0]!.at).toBeGreaterThanOrEqual(at);
    });

    test('the same task scheduled twice runs once', async () => {
      record(under.scheduler);
      const task = expire();
      const marker = expire();
      // Far enough ahead that the second schedule comes before the first is due, even where
      // scheduling is slow (a loaded machine, a Redis Cluster's lanes each set up on first use, which
      // took over a second for three schedules in a CI run):
      // scheduled again once it has run, a task rightly runs again.
      const at = Date.now() + 3_000;
      await under.scheduler.at(at, task);
      await under.scheduler.at(at + 50, task);
      await under.scheduler.at(at + 300, marker);
      expect(Date.now()).toBeLessThan(at);
      // Tasks due in one sweep may run in any order (on a Redis Cluster expiries are swept lane
      // by lane): wait for both. A second run of the first would be due at +50, before the marker.
      await until(() => runsOf(marker).length === 1 && runsOf(task).length > 0, 'both tasks');
      expect(runsOf(task)).toHaveLength(1);
    });

    test('a task scheduled again for an earlier time runs at the earlier time', async () => {
      record(under.scheduler);
      const task = expire();
      await under.scheduler.at(Date.now() + 3_600_000, task);
      await under.scheduler.at(Date.now() + 100, task);
      await until(() => runsOf(task).length === 1, 'the task, brought forward');
    });

    test('a cancelled task does not run; other tasks still do', async () => {
      record(under.scheduler);
      const [dropped, kept] = [expire(), expire()];
      // far enough ahead that the cancel comes first even where scheduling is slow (a loaded
      // machine, a Redis Cluster's lanes each set up on first use)
      const at = Date.now() + 1_000;
      await under.scheduler.at(at, dropped);
      await under.scheduler.at(at, kept);
      await under.scheduler.cancel(dropped);
      await until(() => runsOf(kept).length === 1, 'the task not cancelled');
      await sleep(300);
      expect(runsOf(dropped)).toEqual([]);
      // cancelling what is not scheduled changes nothing
      await under.scheduler.cancel(expire());
    });

    test('a task scheduled again by its own run runs again', async () => {
      const task = expire();
      record(under.scheduler, async (t) => {
        if (runsOf(t).length === 1) await under.scheduler.at(Date.now() + 100, t);
      });
      await under.scheduler.at(Date.now(), task);
      await until(() => runsOf(task).length === 2, 'the second run');
    });

    test('tasks due before the handler is installed wait for it', async () => {
      const task = expire();
      await under.scheduler.at(Date.now(), task);
      await sleep(300);
      record(under.scheduler);
      await until(() => runsOf(task).length === 1, 'the waiting task');
    });

    test('a task whose handler fails is reported with the task', async () => {
      const task = expire();
      record(under.scheduler, async () => {
        throw new Error('handler failed');
      });
      await under.scheduler.at(Date.now(), task);
      await until(() => under.failed.length > 0, 'the failure');
      expect(under.failed[0]).toEqual(task);
    });

    // An event's expiry and a job-like task: on Redis the first is swept, the second a BullMQ job.
    test.each([
      ['an expiry', expire],
      ['a token expiry', (): Task => ({ kind: 'token-expiry', role: 'app', principalId: 'portal', tokenId: `t${++counter}` })],
    ])('close resolves only once the tasks running here have ended: %s', async (_kind, make) => {
      let release = () => {};
      const held = new Promise<void>((resolve) => (release = resolve));
      let ended = false;
      record(under.scheduler, async () => {
        await held;
        ended = true;
      });
      await under.scheduler.at(Date.now(), make());
      await until(() => runs.length === 1, 'the task under way');
      const closed = under.scheduler.close().then(() => ended);
      await sleep(100);
      release();
      expect(await closed).toBe(true);
      expect(under.failed).toEqual([]);
    });

    if (!options.shared) return;

    test('a task outlives the node that scheduled it: another node runs it', async () => {
      const gone = under.peer!();
      const task = expire();
      await gone.at(Date.now() + 100, task);
      await gone.close();
      record(under.scheduler);
      await until(() => runsOf(task).length === 1, 'the task, run by the node still there');
    });
  });
}
