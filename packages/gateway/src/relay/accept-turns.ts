import type { Connection } from './connection';

/**
 * An app socket's events are accepted concurrently (issue 13): one event's Redis steps (the
 * queue cap, the rate budget, the record, the queue) do not wait for the previous event's, so
 * the writes of events that arrive together go out in one pipeline (with AOF, one fsync). What
 * the socket and the agent see stays as when events were accepted one at a time:
 * - the socket's answers (`accepted`, or an error) go in the order its event frames came, and so
 *   do the deliveries that follow them;
 * - events to one agent take their accept order (the agent's order number, which orders its
 *   queue and so its redeliveries) in the order they came, across sessions: `inOrder` asks for
 *   each event's number only after the socket's earlier events to that agent have asked for
 *   theirs (EventStore.nextOrder takes the number as it is called, so this costs no round trip);
 * - events of one session are recorded and queued one at a time, in the order they came
 *   (`inSession`), so none is handed out before an earlier one of its session is queued;
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
  /** Runs `work` after the socket's earlier events of the same session have finished theirs. */
  inSession<T>(work: () => Promise<T>): Promise<T>;
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

/** Turns taken one after another under one key: each waits for the one before to leave. */
type Chains = Map<string, { tail: Promise<void>; users: number }>;

interface SocketTurns {
  lastAnswer: Promise<void>;
  /** By agent id: whose order number comes next. */
  orders: Chains;
  /** By session key: whose record and queue place come next. */
  sessions: Chains;
}

/** One agent's events this node is accepting and has not yet queued. */
interface AgentPlaces {
  count: number;
  /** Resolves once all of them are queued, or will not be. */
  allTaken: Promise<void>;
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

/** Joins the chain under `key`: `before` resolves when the previous turn leaves; `leave` is idempotent. */
function join(chains: Chains, key: string): { before: Promise<void>; leave: () => void } {
  let chain = chains.get(key);
  if (!chain) chains.set(key, (chain = { tail: Promise.resolve(), users: 0 }));
  const own = chain;
  own.users += 1;
  const before = own.tail;
  const turn = latch();
  own.tail = turn.promise;
  let inside = true;
  const leave = () => {
    if (!inside) return;
    inside = false;
    turn.open();
    own.users -= 1;
    if (own.users === 0 && chains.get(key) === own) chains.delete(key);
  };
  return { before, leave };
}

export function createAcceptTurns(): AcceptTurns {
  const sockets = new WeakMap<Connection, SocketTurns>();
  const agents = new Map<string, AgentPlaces>();

  const takePlace = (agentId: string) => {
    let places = agents.get(agentId);
    if (!places) agents.set(agentId, (places = { count: 0, allTaken: Promise.resolve() }));
    const own = places;
    const before = { count: own.count, allTaken: own.allTaken };
    const taken = latch();
    own.count += 1;
    own.allTaken = Promise.all([before.allTaken, taken.promise]).then(() => {});
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      taken.open();
      own.count -= 1;
      if (own.count === 0 && agents.get(agentId) === own) agents.delete(agentId);
    };
    return { before, release };
  };

  return {
    take(conn, agentId, sessionKey) {
      let socket = sockets.get(conn);
      if (!socket) sockets.set(conn, (socket = { lastAnswer: Promise.resolve(), orders: new Map(), sessions: new Map() }));
      const turns = socket;

      const answerAfter = turns.lastAnswer;
      const answer = latch();
      turns.lastAnswer = answer.promise;

      const place = takePlace(agentId);
      const order = join(turns.orders, agentId);
      const session = join(turns.sessions, sessionKey);

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
          await session.before;
          try {
            return await work();
          } finally {
            session.leave();
          }
        },
        mayCrowd: (waiting, maxQueue) => waiting + place.before.count >= maxQueue,
        earlierPlacesTaken: place.before.allTaken,
        placeTaken: place.release,
        end() {
          place.release();
          order.leave();
          session.leave();
        },
      };
    },
  };
}
