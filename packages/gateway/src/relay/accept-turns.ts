import type { Connection } from './connection';

/**
 * An app socket's events are accepted concurrently (issue 13): one event's Redis steps (the
 * queue cap, the rate budget, the record, the queue) do not wait for the previous event's, so
 * the writes of events that arrive together go out in one pipeline (with AOF, one fsync). What
 * the socket and the agent see stays as when events were accepted one at a time:
 * - the socket's answers (`accepted`, or an error) go in the order its event frames came, and no
 *   event is written to its agent before its answer (an agent connection then gets its events in
 *   the order the queue assigned them: delivery-order.ts);
 * - events to one agent take their accept order (the agent's order number, which orders its
 *   queue and so its redeliveries) in the order they came, across sessions: `inOrder` asks for
 *   each event's number only after the socket's earlier events to that agent have asked for
 *   theirs (EventStore.nextOrder takes the number as it is called, so this costs no round trip);
 * - events of one session are queued one at a time, in the order they came (`inSession`), so none
 *   is handed out before an earlier one of its session is queued. On a store that runs steps in
 *   call order, "one at a time" means each queueing is sent after the one before it was sent
 *   (`queueSent`), not answered, and made on condition that the one before it is in the queue
 *   (`queueAfter`): the store may then queue an event in its record's own step, and a queueing
 *   whose condition fails is made again once the earlier ones are queued (`earlierQueued`);
 * - the queue cap is exact on a node: near it, an event waits for the places of the agent's
 *   events this node began accepting before it to be taken, and counts again (`mayCrowd`).
 *
 * Turns are taken in frame order: an event frame's work starts in the order the frames came
 * (frame-queue.ts starts each in a lane of its own, all after the socket's earlier work).
 */
export interface AcceptTurn {
  /** Resolves once the socket's previous event has been answered (and its delivery started). */
  answerAfter: Promise<void>;
  /** This event has been answered: the socket's next event may answer. Idempotent. */
  answered(): void;
  /** Calls `take` (EventStore.nextOrder) once the socket's earlier events to the same agent have called theirs, or will not. */
  inOrder<T>(take: () => Promise<T>): Promise<T>;
  /**
   * Runs `work` after the socket's earlier events of the same session have finished theirs, or
   * sent their queueing (`queueSent`).
   */
  inSession<T>(work: () => Promise<T>): Promise<T>;
  /**
   * Inside `inSession`: this event's queueing has been sent to a store that carries out steps in
   * the order they are called (Backend.runsInCallOrder), so the session's next event may send
   * its own: the store runs it after this one's. Idempotent.
   */
  queueSent(): void;
  /** Resolves once the socket's earlier events of the same session have finished `inSession`: each is queued, or never will be. */
  earlierQueued: Promise<void>;
  /**
   * Call with the event's id as its append is called (inside `inOrder`, so in frame order per
   * agent). Returns the id of the event of its session appended just before it on this socket,
   * while that one's session turn (`inSession`) is not over, else null. Once that event is in the
   * queue, so is every earlier one of the session here (each was queued after the one before
   * it), so this one may be queued as soon as it is recorded, without waiting for `inSession`; an
   * earlier event that failed before its append was never queued and holds nothing up. A
   * queueing of this event made on that condition fails it while that event is not in the
   * queue: it has not been queued yet, or has already left it (then it was queued).
   */
  queueAfter(eventId: string): string | null;
  /**
   * Whether, with `waiting` events in the agent's queue, the events of that agent this node is
   * still accepting ahead of this one could fill it (they are not yet counted in `waiting`).
   */
  mayCrowd(waiting: number, maxQueue: number): boolean;
  /** Resolves once every event of the agent this node began accepting before this one is queued, or will not be. */
  earlierPlacesTaken: Promise<void>;
  /** This event is queued, or will not be. Idempotent. */
  placeTaken(): void;
  /** Releases what the turn still holds but its answer (a failed accept holds nothing up). */
  end(): void;
}

/**
 * Turns taken under one key, in the order they were taken: a turn's `before` resolves once every
 * earlier turn has left, whatever order they leave in (a later turn that fails early leaves
 * before an earlier one that is still waiting, and must not let the next one go ahead of it).
 */
type Lines = Map<string, Line>;

interface Line {
  inside: number;
  allLeft: Promise<void>;
  /**
   * Session lines: the latest event whose append was called, until its session turn is over
   * (it is queued, or never will be).
   */
  lastAppended?: string;
}

interface Turn {
  line: Line;
  /** How many earlier turns had not yet left when this one was taken. */
  earlier: number;
  /** Resolves once every earlier turn has left. */
  before: Promise<void>;
  /** This turn leaves. Idempotent. */
  leave(): void;
}

interface SocketTurns {
  lastAnswer: Promise<void>;
  /** By agent id: whose order number comes next. */
  orders: Lines;
  /** By session key: whose queue place comes next, once the earlier ones are queued. */
  sessions: Lines;
  /** By session key: whose queueing is sent next, once the earlier ones' are sent. */
  sessionsSent: Lines;
}

export interface AcceptTurns {
  take(conn: Connection, agentId: string, sessionKey: string): AcceptTurn;
}

/** A promise and the function that resolves it once, however often it is called. */
function latch(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** Takes a turn under `key`, after every turn taken there before. */
function join(lines: Lines, key: string): Turn {
  let line = lines.get(key);
  if (!line) lines.set(key, (line = { inside: 0, allLeft: Promise.resolve() }));
  const own = line;
  const earlier = own.inside;
  const before = own.allLeft;
  const left = latch();
  own.inside += 1;
  own.allLeft = Promise.all([before, left.promise]).then(() => {});
  let inside = true;
  const leave = () => {
    if (!inside) return;
    inside = false;
    left.open();
    own.inside -= 1;
    if (own.inside === 0 && lines.get(key) === own) lines.delete(key);
  };
  return { line: own, earlier, before, leave };
}

export function createAcceptTurns(): AcceptTurns {
  const sockets = new WeakMap<Connection, SocketTurns>();
  /** By agent id, on this node: its events being accepted and not yet queued (or refused). */
  const places: Lines = new Map();

  return {
    take(conn, agentId, sessionKey) {
      let socket = sockets.get(conn);
      if (!socket) sockets.set(conn, (socket = { lastAnswer: Promise.resolve(), orders: new Map(), sessions: new Map(), sessionsSent: new Map() }));
      const turns = socket;

      const answerAfter = turns.lastAnswer;
      const answer = latch();
      turns.lastAnswer = answer.promise;

      const place = join(places, agentId);
      /** This event's id, once its append is called. */
      let appendedAs: string | undefined;
      const order = join(turns.orders, agentId);
      const session = join(turns.sessions, sessionKey);
      const sent = join(turns.sessionsSent, sessionKey);

      return {
        answerAfter,
        answered: answer.open,
        async inOrder(take) {
          await order.before;
          try {
            return take();
          } finally {
            order.leave(); // once `take` has been called: the number is taken
          }
        },
        async inSession(work) {
          await sent.before;
          try {
            const done = await work();
            // Queued (or a duplicate): so is every earlier event of the session here, or it never
            // will be, and the session's next need not name this one to the store.
            if (appendedAs !== undefined && session.line.lastAppended === appendedAs) session.line.lastAppended = undefined;
            return done;
          } finally {
            sent.leave();
            session.leave();
          }
        },
        queueSent: sent.leave,
        earlierQueued: session.before,
        queueAfter(eventId) {
          const after = session.earlier === 0 ? null : (session.line.lastAppended ?? null);
          appendedAs = eventId;
          session.line.lastAppended = eventId;
          return after;
        },
        mayCrowd: (waiting, maxQueue) => waiting + place.earlier >= maxQueue,
        earlierPlacesTaken: place.before,
        placeTaken: place.leave,
        end() {
          place.leave();
          order.leave();
          sent.leave();
          session.leave();
        },
      };
    },
  };
}
