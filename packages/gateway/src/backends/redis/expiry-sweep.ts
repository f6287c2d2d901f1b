import type { RedisClient } from './connect';
import type { RunScript } from './scripts';
import { keySlot } from './slot';
import { taskId, type Task } from '../../ports';

type ExpireTask = Extract<Task, { kind: 'expire' }>;

/** How often each node looks for due expiries that another node scheduled. */
const POLL_MS = 250;
/** A claimed expiry comes due again after this, should its node die before it is done. */
const LEASE_MS = 15_000;
/** A failed expiry is tried again after this. */
const RETRY_MS = 1_000;
/** Expiries claimed per script call, and run at once. */
const BATCH = 16;

/** An event's expiry as a member of its lane's set; ids never contain ':'. */
export const expiryMember = (agentId: string, eventId: string) => `${agentId}:${eventId}`;

export interface ExpirySweep {
  at(time: number, task: ExpireTask): Promise<void>;
  cancel(task: ExpireTask): Promise<void>;
  start(handler: (task: Task) => Promise<void>): void;
  close(): Promise<void>;
}

/**
 * Event expiries, the commonest task by far (one per accepted event), kept out of BullMQ: a
 * delayed job costs each event several scripts and hashes to add and again to cancel. Here an
 * expiry is one member of a sorted set by due time, `ZADD` at accept and `ZREM` at finish. Every
 * node sweeps the sets: a script claims what is due by moving it to a lease time, so one node
 * runs each expiry, and one whose node dies mid-run comes due again when the lease is over.
 *
 * One set per scheduler lane (`lanes`, each a hash-tagged key), so on a Redis Cluster they
 * spread over the shards like the BullMQ lanes; a task always goes to the same lane.
 */
export function createExpirySweep(
  client: RedisClient,
  run: RunScript,
  lanes: string[],
  onError: (err: unknown, task?: Task) => void,
): ExpirySweep {
  const laneOf = (task: ExpireTask) => lanes[keySlot(taskId(task)) % lanes.length] as string;
  const memberOf = (task: ExpireTask) => expiryMember(task.agentId, task.eventId);
  const taskOf = (member: string): ExpireTask => {
    const [agentId, eventId] = member.split(':') as [string, string];
    return { kind: 'expire', agentId, eventId };
  };
  /** Expiries this node is running, with the earliest time each was scheduled for again meanwhile. */
  const running = new Map<string, { again?: number }>();
  let handler: ((task: Task) => Promise<void>) | undefined;
  let timer: NodeJS.Timeout | undefined;
  let plannedAt = Infinity;
  let sweeping: Promise<void> | undefined;
  let sweepAgain = false;
  let closed = false;

  /** The next sweep at `time`, unless one is planned sooner. */
  const wakeAt = (time: number) => {
    if (!handler || closed || time >= plannedAt) return;
    clearTimeout(timer);
    plannedAt = time;
    // a timer may fire a millisecond early by Date.now(), and the claim would miss it
    timer = setTimeout(tick, Math.max(0, time - Date.now() + 1));
  };
  const tick = () => {
    plannedAt = Infinity;
    if (sweeping) {
      sweepAgain = true;
      return;
    }
    sweeping = sweep()
      .catch((err: unknown) => onError(err))
      .finally(() => {
        sweeping = undefined;
        wakeAt(sweepAgain ? Date.now() : Date.now() + POLL_MS);
        sweepAgain = false;
      });
  };
  const sweep = async () => {
    for (const lane of lanes) {
      for (;;) {
        if (closed) return;
        const now = Date.now();
        const due = (await run('claimExpiries', [lane], [now, now + LEASE_MS, BATCH])) as string[];
        await Promise.all(due.map((member) => runOne(lane, member)));
        if (due.length < BATCH) break;
      }
    }
  };
  const runOne = async (lane: string, member: string) => {
    const task = taskOf(member);
    const mine: { again?: number } = {};
    running.set(member, mine);
    try {
      await (handler as (task: Task) => Promise<void>)(task);
    } catch (err) {
      onError(err, task);
      mine.again = Math.min(mine.again ?? Infinity, Date.now() + RETRY_MS);
    } finally {
      running.delete(member);
    }
    // Done unless scheduled again meanwhile (an event still in flight is looked at again later).
    // Should this write fail, the lease brings the expiry back: a handler run twice does no harm.
    await (mine.again === undefined ? client.zrem(lane, member) : client.zadd(lane, mine.again, member)).catch((err: unknown) => onError(err));
  };

  return {
    async at(time, task) {
      const mine = running.get(memberOf(task));
      if (mine) {
        mine.again = Math.min(mine.again ?? time, time);
        return;
      }
      // LT: a task already due earlier keeps its time
      await client.zadd(laneOf(task), 'LT', time, memberOf(task));
      wakeAt(time);
    },
    async cancel(task) {
      await client.zrem(laneOf(task), memberOf(task));
    },
    start(h) {
      handler = h;
      wakeAt(Date.now());
    },
    async close() {
      closed = true;
      clearTimeout(timer);
      await sweeping;
    },
  };
}
