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
   *
   * With a `lane` (an agent's frames name their event), the work waits only for the earlier
   * work of the same lane and the socket's earlier work without one: a reply whose settlement
   * waits on Redis holds up the rest of its event, not the agent's tokens for its other events
   * (issue 19). An app's event frames each have a lane of their own (accept-turns.ts keeps
   * what must stay in order). Work without a lane waits for everything queued before it.
   *
   * Laned work with nothing to wait for runs at once, inside this call; if it returns no promise
   * it is done, and later frames do not wait for it.
   */
  run(conn: Connection, bytes: number, work: () => void | Promise<void>, echo?: Echo, lane?: string): void;
  /** Sets how many bytes of frames the socket may have waiting (agentQueueBudget). */
  setBudget(conn: Connection, bytes: number): void;
  /** Waits for the socket's queued work, then forgets the socket. */
  closed(connId: string): Promise<void>;
}

interface Lane {
  tail: Promise<void>;
  waiting: number;
}

/** One socket's work: the flood guard counts all of it, whichever lane it is in. */
interface SocketWork {
  /** The work without a lane, and every lane that existed when such work was queued. */
  shared: Promise<void>;
  /** Created at a socket's first laned frame: most sockets never have one. */
  lanes: Map<string, Lane> | undefined;
  /** Work without a lane not yet finished: while there is any, every frame waits in line. */
  sharedWaiting: number;
  depth: number;
  bytes: number;
  budget: number;
}

export function createFrameQueue(ctx: RelayContext): FrameQueue {
  const sockets = new Map<string, SocketWork>();
  const socketOf = (conn: Connection) => {
    let socket = sockets.get(conn.id);
    if (!socket) {
      socket = { shared: Promise.resolve(), lanes: undefined, sharedWaiting: 0, depth: 0, bytes: 0, budget: MAX_QUEUED_BYTES };
      sockets.set(conn.id, socket);
    }
    return socket;
  };
  const everything = (socket: SocketWork): Promise<unknown> =>
    socket.lanes?.size ? Promise.all([socket.shared, ...[...socket.lanes.values()].map((l) => l.tail)]) : socket.shared;

  return {
    run(conn, bytes, work, echo = {}, lane) {
      const socket = socketOf(conn);
      if (socket.depth >= MAX_QUEUED_FRAMES || socket.bytes + bytes > socket.budget) {
        ctx.metrics.framesRejected.inc({ role: conn.role, code: 'FLOOD' });
        conn.close(CloseCode.OVERLOADED, 'Too many frames waiting; slow down');
        return;
      }
      // Nothing it must wait for: the work runs now, and a token, which ends in this turn, leaves
      // no promise behind it (every token frame comes this way while its event's lane is idle).
      let started: Promise<void> | undefined;
      if (lane !== undefined && socket.sharedWaiting === 0 && !socket.lanes?.has(lane)) {
        try {
          const result = work();
          if (!result) return;
          started = result;
        } catch (err) {
          rejectFrame(ctx, conn, err, echo);
          return;
        }
      }
      socket.depth += 1;
      socket.bytes += bytes;
      const finish = (done: () => void) => {
        socket.depth -= 1;
        socket.bytes -= bytes;
        done();
      };
      // One `then` for both outcomes rather than catch + finally: each is a promise and a
      // microtask more.
      const step = (after: Promise<unknown>, done: () => void) =>
        (started ?? after.then(work)).then(
          () => finish(done),
          (err: unknown) => {
            try {
              rejectFrame(ctx, conn, err, echo);
            } finally {
              finish(done);
            }
          },
        );
      if (lane === undefined) {
        socket.sharedWaiting += 1;
        socket.shared = step(everything(socket), () => {
          socket.sharedWaiting -= 1;
        });
        socket.lanes?.clear(); // `shared` now follows them
        ctx.track('frame', socket.shared);
        return;
      }
      socket.lanes ??= new Map();
      let current = socket.lanes.get(lane);
      if (!current) socket.lanes.set(lane, (current = { tail: socket.shared, waiting: 0 }));
      const own = current;
      own.waiting += 1;
      own.tail = step(own.tail, () => {
        own.waiting -= 1;
        // A lane lives while it has work: an agent names many events over its life.
        if (own.waiting === 0 && socket.lanes?.get(lane) === own) socket.lanes.delete(lane);
      });
      ctx.track('frame', own.tail);
    },
    setBudget(conn, bytes) {
      socketOf(conn).budget = bytes;
    },
    async closed(connId) {
      const socket = sockets.get(connId);
      if (socket) await everything(socket);
      sockets.delete(connId);
    },
  };
}
