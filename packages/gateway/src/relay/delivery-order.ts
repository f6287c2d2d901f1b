import { runEach } from '../turn-end';

/**
 * Writes each agent connection's events in the order the queue assigned them (Assignment.seq).
 *
 * The node that makes an assignment sends it on: the accepting node for a new event, the node
 * that saw another connection close for the events it handed back, and so on. Two assignments to
 * one connection can therefore reach its node in either order, and a session's events would
 * overtake each other. One that comes before an earlier one waits here until the earlier one has
 * been written or passed (its event ended meanwhile: DeliveryOrder.inOrder with nothing to write).
 *
 * The wait is bounded: an earlier assignment's sender may have died between the queue's script
 * and the send. That event is then sent by a resend, a retried step or the connection's detach,
 * and is written as it comes.
 */

/** The longest an assignment waits for an earlier one to the same connection. */
export const GAP_WAIT_MS = 1_000;

export interface DeliveryOrder {
  /**
   * Runs `write` once every earlier assignment to the connection has been run, or given up on.
   * `seq` 0 (from a node that does not number them) and an earlier seq (a repeat, or one given
   * up on) run at once.
   */
  inOrder(connId: string, seq: number, write: () => void): void;
  /** The connection is gone: what waits for it is dropped (its detach hands the events back). */
  forget(connId: string): void;
}

interface Line {
  /** The seq to be run next. */
  next: number;
  waiting: Map<number, () => void>;
  timer?: NodeJS.Timeout | undefined;
}

export interface DeliveryOrderOptions {
  /** An assignment that waited was run: once the earlier one came (filled), or after the wait. */
  counted(outcome: 'filled' | 'gave_up'): void;
  /** A write run when a wait ended threw: there is no caller to throw to. */
  failed(err: unknown): void;
  waitMs?: number;
}

export function createDeliveryOrder({ counted, failed, waitMs = GAP_WAIT_MS }: DeliveryOrderOptions): DeliveryOrder {
  const lines = new Map<string, Line>();

  /**
   * Takes the waiting writes that are due now (from `next` on, with no gap), each counted as
   * filled, and keeps a timer running while any still wait. The line is settled before any
   * write runs.
   */
  const due = (line: Line): (() => void)[] => {
    const writes: (() => void)[] = [];
    for (let write = line.waiting.get(line.next); write; write = line.waiting.get(line.next)) {
      line.waiting.delete(line.next);
      line.next += 1;
      counted('filled');
      writes.push(write);
    }
    if (line.waiting.size === 0) {
      clearTimeout(line.timer);
      line.timer = undefined;
    } else {
      line.timer ??= setTimeout(() => giveUp(line), waitMs);
    }
    return writes;
  };

  /** The wait is over: the earliest waiting write goes, and the rest follow it as they can. */
  const giveUp = (line: Line) => {
    line.timer = undefined;
    const first = Math.min(...line.waiting.keys());
    const write = line.waiting.get(first) as () => void;
    line.waiting.delete(first);
    line.next = first + 1;
    counted('gave_up');
    const failure = runEach([write, ...due(line)]);
    if (failure) failed(failure.err);
  };

  return {
    inOrder(connId, seq, write) {
      if (!seq) return write();
      let line = lines.get(connId);
      if (!line) {
        line = { next: 1, waiting: new Map() };
        lines.set(connId, line);
      }
      if (seq < line.next) return write();
      if (seq > line.next) {
        line.waiting.set(seq, write);
        due(line);
        return;
      }
      line.next += 1;
      const failure = runEach([write, ...due(line)]);
      if (failure) throw failure.err;
    },
    forget(connId) {
      clearTimeout(lines.get(connId)?.timer);
      lines.delete(connId);
    },
  };
}
