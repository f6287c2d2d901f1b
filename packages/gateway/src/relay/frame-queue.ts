import { CloseCode, MAX_AGENT_FRAME_BYTES } from '@relay/protocol';
import type { Connection } from './connection';
import type { RelayContext } from './context';
import { rejectFrame, type Echo } from './frame-errors';

/**
 * Frames from one socket are handled in order. While the store stalls, none finishes: this many
 * waiting, or this much of their text (in characters; an event carries up to 64 KB), is a
 * flood, and closes the socket, so one client cannot fill the node's memory.
 */
const MAX_QUEUED_FRAMES = 10_000;
const MAX_QUEUED_BYTES = 8 * 1024 * 1024;

/**
 * An agent may owe a reply of up to MAX_AGENT_FRAME_BYTES for each event it may hold, and a
 * fast one sends them all at once: those never count as a flood. So an agent socket's budget is
 * that much on top of everyone's, set once its max_in_flight is known.
 */
export const agentQueueBudget = (maxInFlight: number) => MAX_QUEUED_BYTES + maxInFlight * MAX_AGENT_FRAME_BYTES;

export interface FrameQueue {
  /**
   * Runs frame work for one socket after the work queued before it; a failure becomes an error
   * frame echoing `echo`. `bytes` is the frame's text length, counted against the socket's
   * budget while it waits.
   */
  run(conn: Connection, bytes: number, work: () => Promise<void>, echo?: Echo): void;
  /** Sets how many bytes of frames the socket may have waiting (agentQueueBudget). */
  setBudget(conn: Connection, bytes: number): void;
  /** Waits for the socket's queued work, then forgets the socket. */
  closed(connId: string): Promise<void>;
}

export function createFrameQueue(ctx: RelayContext): FrameQueue {
  const chains = new Map<string, { tail: Promise<void>; depth: number; bytes: number; budget: number }>();
  const chainOf = (conn: Connection) => {
    let chain = chains.get(conn.id);
    if (!chain) chains.set(conn.id, (chain = { tail: Promise.resolve(), depth: 0, bytes: 0, budget: MAX_QUEUED_BYTES }));
    return chain;
  };
  return {
    run(conn, bytes, work, echo = {}) {
      const chain = chainOf(conn);
      if (chain.depth >= MAX_QUEUED_FRAMES || chain.bytes + bytes > chain.budget) {
        ctx.metrics.framesRejected.inc({ role: conn.role, code: 'FLOOD' });
        conn.close(CloseCode.OVERLOADED, 'Too many frames waiting; slow down');
        return;
      }
      chain.depth += 1;
      chain.bytes += bytes;
      chain.tail = chain.tail
        .then(work)
        .catch((err: unknown) => rejectFrame(ctx, conn, err, echo))
        .finally(() => {
          chain.depth -= 1;
          chain.bytes -= bytes;
        });
      ctx.track('frame', chain.tail);
    },
    setBudget(conn, bytes) {
      chainOf(conn).budget = bytes;
    },
    async closed(connId) {
      await chains.get(connId)?.tail;
      chains.delete(connId);
    },
  };
}
