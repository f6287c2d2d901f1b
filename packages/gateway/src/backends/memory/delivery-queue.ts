import type {
  AgentConnectionSlot,
  Assignment,
  DeliveryQueue,
  DispatchResult,
  QueueEntry,
} from '../../ports';
import { MinHeap } from './min-heap';

interface Entry extends QueueEntry {
  /** Deliveries so far; the next assignment carries attempt = attempts + 1. */
  attempts: number;
  /** The `seq` of its latest assignment (0 before the first). */
  seq: number;
}

interface Slot extends AgentConnectionSlot {
  inFlight: Map<string, Entry>;
  /** Assignments made to this connection so far: the last `seq` given. */
  assigned: number;
}

/** The waiting events of one session, in accept order from `head` on. */
interface Session {
  queue: Entry[];
  head: number;
  /** Changes whenever the session is filed anew: heap items of older filings are stale. */
  filing: number;
}

/** A session filed in a heap; only the item of its latest filing counts. */
interface Filed {
  key: number;
  session: string;
  filing: number;
}

interface AgentState {
  /** Sessions with waiting events; each is filed in exactly one of ready, held and parked. */
  sessions: Map<string, Session>;
  /** Sessions that may move, by the accept order of their first waiting event. */
  ready: MinHeap<Filed>;
  /** Sessions whose first waiting event is held back (rate limit), by its notBefore (or expiresAt, if sooner). */
  held: MinHeap<Filed>;
  /** Sessions whose holder is full, per holder, by the accept order of their first waiting event. */
  parked: Map<string, MinHeap<Filed>>;
  filings: number;
  /** Waiting entries by event id. */
  waiting: Map<string, Entry>;
  /** Attached connections; Map order doubles as round-robin order among equally loaded ones. */
  slots: Map<string, Slot>;
  /** Session → connection holding it, in least-recently-used order. */
  holders: Map<string, string>;
  /** Where each event is: WAITING or the id of the connection holding it. */
  where: Map<string, string>;
  /** Events of each session waiting or in flight. */
  sessionLoad: Map<string, number>;
}

const WAITING = 'waiting';

const assignmentOf = (agentId: string, entry: Entry, slot: Slot): Assignment => ({
  eventId: entry.eventId, agentId, connId: slot.connId, nodeId: slot.nodeId, attempt: entry.attempts, seq: entry.seq,
});

/**
 * The delivery rules of the DeliveryQueue contract, in one process. It is also the reference
 * the Redis backend is checked against by the shared contract suite, and has its shape
 * (lua/include-dispatch.lua): a dispatch looks only at sessions that can move, so it costs
 * log n per event it assigns, never a pass over what waits behind a full connection or a hold.
 */
export function createMemoryDeliveryQueue(now: () => number = Date.now, maxIdleSessions = 10_000): DeliveryQueue {
  const agents = new Map<string, AgentState>();

  const state = (agentId: string): AgentState => {
    let s = agents.get(agentId);
    if (!s) {
      s = {
        sessions: new Map(), ready: new MinHeap(), held: new MinHeap(), parked: new Map(), filings: 0,
        waiting: new Map(), slots: new Map(), holders: new Map(), where: new Map(), sessionLoad: new Map(),
      };
      agents.set(agentId, s);
    }
    return s;
  };

  const first = (q: Session): Entry | undefined => q.queue[q.head];

  const isCurrent = (s: AgentState, item: Filed) => s.sessions.get(item.session)?.filing === item.filing;

  /** The heap's first item of a current filing, dropping stale ones on the way. */
  const top = (s: AgentState, heap: MinHeap<Filed>): Filed | undefined => {
    while (heap.size > 0 && !isCurrent(s, heap.peek() as Filed)) heap.pop();
    return heap.peek();
  };

  const file = (s: AgentState, heap: MinHeap<Filed>, key: number, session: string, q: Session) => {
    q.filing = ++s.filings;
    heap.push({ key, session, filing: q.filing });
    // stale items leave as they reach the top; this bounds those that never would
    if (heap.size > 2 * s.sessions.size + 64) heap.retain((item) => isCurrent(s, item));
  };

  /** Files a session by its first waiting event: ready, held until its notBefore, or nowhere. */
  const place = (s: AgentState, session: string, t: number) => {
    const q = s.sessions.get(session);
    if (!q) return;
    const e = first(q);
    if (!e) s.sessions.delete(session);
    // a held event that expires first ends then, and lets the next one go
    else if (e.notBefore > t && e.expiresAt > t) file(s, s.held, Math.min(e.notBefore, e.expiresAt), session, q);
    else file(s, s.ready, e.order, session, q);
  };

  const park = (s: AgentState, session: string, connId: string, order: number) => {
    let heap = s.parked.get(connId);
    if (!heap) s.parked.set(connId, (heap = new MinHeap()));
    file(s, heap, order, session, s.sessions.get(session) as Session);
  };

  /** Index in q.queue where an entry of this order is, or goes. */
  const indexOf = (q: Session, order: number) => {
    let lo = q.head;
    let hi = q.queue.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((q.queue[mid] as Entry).order < order) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };

  const addWaiting = (s: AgentState, entry: Entry, t: number) => {
    let q = s.sessions.get(entry.sessionKey);
    if (!q) s.sessions.set(entry.sessionKey, (q = { queue: [], head: 0, filing: 0 }));
    const last = q.queue[q.queue.length - 1];
    if (!last || last.order < entry.order) q.queue.push(entry);
    else q.queue.splice(indexOf(q, entry.order), 0, entry);
    s.where.set(entry.eventId, WAITING);
    s.waiting.set(entry.eventId, entry);
    // only a new first event changes where its session is filed
    if (first(q) === entry) place(s, entry.sessionKey, t);
  };

  const removeWaiting = (s: AgentState, entry: Entry, t: number) => {
    const q = s.sessions.get(entry.sessionKey) as Session;
    const i = indexOf(q, entry.order);
    s.waiting.delete(entry.eventId);
    if (i !== q.head) {
      q.queue.splice(i, 1);
      return;
    }
    q.head += 1;
    if (q.head > 1024 && q.head * 2 > q.queue.length) {
      q.queue = q.queue.slice(q.head);
      q.head = 0;
    }
    place(s, entry.sessionKey, t);
  };

  const leastLoaded = (s: AgentState): Slot | undefined => {
    let best: Slot | undefined;
    for (const slot of s.slots.values()) {
      if (slot.inFlight.size >= slot.maxInFlight) continue;
      if (!best || slot.inFlight.size < best.inFlight.size) best = slot;
    }
    return best;
  };

  /** The connection this session's next event goes to, claiming one if the session has none. */
  const slotFor = (s: AgentState, sessionKey: string): Slot | undefined => {
    const holder = s.holders.get(sessionKey);
    if (holder !== undefined && s.slots.has(holder)) {
      s.holders.delete(sessionKey); // refresh its place in the LRU order
      s.holders.set(sessionKey, holder);
      return s.slots.get(holder);
    }
    const slot = leastLoaded(s);
    if (!slot) return undefined;
    s.holders.set(sessionKey, slot.connId);
    // rotate, so the next new session prefers another equally loaded connection
    s.slots.delete(slot.connId);
    s.slots.set(slot.connId, slot);
    return slot;
  };

  const forget = (s: AgentState, entry: Entry) => {
    s.where.delete(entry.eventId);
    const left = (s.sessionLoad.get(entry.sessionKey) ?? 1) - 1;
    if (left > 0) s.sessionLoad.set(entry.sessionKey, left);
    else s.sessionLoad.delete(entry.sessionKey);
  };

  /**
   * A session stays with its connection while that connection lives, but the map is bounded:
   * past `maxIdleSessions`, the least recently used sessions with nothing pending are forgotten.
   */
  const evictIdleHolders = (s: AgentState) => {
    if (s.holders.size <= maxIdleSessions) return;
    for (const session of s.holders.keys()) {
      if (s.holders.size <= maxIdleSessions) break;
      if (!s.sessionLoad.has(session)) s.holders.delete(session);
    }
  };

  /**
   * Among the sessions that can move (the first ready one, the first parked on each connection
   * with room), the one whose first waiting event comes first in accept order.
   */
  const nextSession = (s: AgentState): string | undefined => {
    let best = top(s, s.ready);
    for (const slot of s.slots.values()) {
      if (slot.inFlight.size >= slot.maxInFlight) continue;
      const heap = s.parked.get(slot.connId);
      const parked = heap && top(s, heap);
      if (parked && (!best || parked.key < best.key)) best = parked;
    }
    return best?.session;
  };

  /**
   * Assigns waiting events in accept order, as one pass over them all would: a session that
   * cannot go holds back its later events. Expired ones met on the way are reported (the
   * scheduler's expiry finds the others).
   */
  const dispatch = (agentId: string): DispatchResult => {
    const s = state(agentId);
    const t = now();
    const assigned: Assignment[] = [];
    const expired: string[] = [];
    let free = 0;
    for (const slot of s.slots.values()) free += Math.max(0, slot.maxInFlight - slot.inFlight.size);
    if (free === 0) return { assigned, expired };
    for (let h = top(s, s.held); h && h.key <= t; h = top(s, s.held)) {
      s.held.pop();
      place(s, h.session, t);
    }
    while (free > 0) {
      const session = nextSession(s);
      if (session === undefined) break;
      const entry = first(s.sessions.get(session) as Session) as Entry;
      if (entry.expiresAt <= t) {
        removeWaiting(s, entry, t);
        forget(s, entry);
        expired.push(entry.eventId);
        continue;
      }
      if (entry.notBefore > t) {
        place(s, session, t);
        continue;
      }
      const slot = slotFor(s, session);
      if (!slot) break;
      if (slot.inFlight.size >= slot.maxInFlight) {
        park(s, session, slot.connId, entry.order);
        continue;
      }
      entry.attempts += 1;
      entry.seq = ++slot.assigned;
      free -= 1;
      removeWaiting(s, entry, t);
      slot.inFlight.set(entry.eventId, entry);
      s.where.set(entry.eventId, slot.connId);
      assigned.push(assignmentOf(agentId, entry, slot));
    }
    evictIdleHolders(s);
    return { assigned, expired };
  };

  /** DeliveryQueue.enqueue, at once: it reads and changes the queue before it first yields. */
  const enqueue = (entry: QueueEntry): DispatchResult => {
    const s = state(entry.agentId);
    // Enqueued before (a retried call, or a resend): only dispatch; a second entry would
    // deliver the event twice. An event in flight is reported as assigned again, to the same
    // connection with the same attempt and seq: the node that assigned it may have died before
    // sending it there.
    const where = s.where.get(entry.eventId);
    if (where !== undefined) {
      const result = dispatch(entry.agentId);
      const slot = s.slots.get(where);
      const held = slot?.inFlight.get(entry.eventId);
      if (slot && held) {
        result.assigned.push(assignmentOf(entry.agentId, held, slot));
      }
      return result;
    }
    s.sessionLoad.set(entry.sessionKey, (s.sessionLoad.get(entry.sessionKey) ?? 0) + 1);
    addWaiting(s, { ...entry, attempts: 0, seq: 0 }, now());
    return dispatch(entry.agentId);
  };

  return {
    async enqueue(entry) {
      return enqueue(entry);
    },
    async enqueueAfter(entry, after) {
      return state(entry.agentId).where.has(after) ? enqueue(entry) : null;
    },
    async attach(agentId, slot) {
      state(agentId).slots.set(slot.connId, { ...slot, inFlight: new Map(), assigned: 0 });
      return dispatch(agentId);
    },
    async detach(agentId, connId) {
      const s = state(agentId);
      const slot = s.slots.get(connId);
      if (!slot) return { assigned: [], expired: [] };
      const t = now();
      s.slots.delete(connId);
      for (const [session, holder] of s.holders) if (holder === connId) s.holders.delete(session);
      // sessions set aside for this connection may go anywhere now
      const parked = s.parked.get(connId);
      s.parked.delete(connId);
      for (let p = parked && top(s, parked); p; p = parked && top(s, parked)) {
        parked?.pop();
        place(s, p.session, t);
      }
      const late: string[] = [];
      for (const entry of slot.inFlight.values()) {
        if (entry.expiresAt > t) addWaiting(s, entry, t);
        else {
          // its time to wait is over: it ends now instead of waiting for an agent again
          forget(s, entry);
          late.push(entry.eventId);
        }
      }
      const result = dispatch(agentId);
      return { assigned: result.assigned, expired: [...result.expired, ...late] };
    },
    async retryLater(agentId, connId, eventId, notBefore) {
      const s = state(agentId);
      const entry = s.slots.get(connId)?.inFlight.get(eventId);
      if (!entry || s.where.get(eventId) !== connId) return { assigned: [], expired: [] };
      (s.slots.get(connId) as Slot).inFlight.delete(eventId);
      entry.notBefore = notBefore;
      addWaiting(s, entry, now());
      return dispatch(agentId);
    },
    async remove(agentId, eventId, onlyIfWaiting) {
      const s = state(agentId);
      const where = s.where.get(eventId);
      if (where === undefined) return { was: null, assigned: [], expired: [] };
      if (where === WAITING) {
        const entry = s.waiting.get(eventId) as Entry;
        removeWaiting(s, entry, now());
        forget(s, entry);
        return { was: 'waiting', ...dispatch(agentId) };
      }
      if (onlyIfWaiting) return { was: 'in-flight', connId: where, assigned: [], expired: [] };
      const slot = s.slots.get(where) as Slot;
      forget(s, slot.inFlight.get(eventId) as Entry);
      slot.inFlight.delete(eventId);
      return { was: 'in-flight', connId: where, ...dispatch(agentId) };
    },
    async pump(agentId) {
      return dispatch(agentId);
    },
    async events(agentId) {
      return [...(agents.get(agentId)?.where.keys() ?? [])];
    },
    async waiting(agentId) {
      return agents.get(agentId)?.waiting.size ?? 0;
    },
    async holder(agentId, eventId) {
      const where = agents.get(agentId)?.where.get(eventId);
      return where === undefined || where === WAITING ? null : where;
    },
    async attempts(agentId, eventId) {
      const a = agents.get(agentId);
      const where = a?.where.get(eventId);
      if (!a || where === undefined) return 0;
      return (where === WAITING ? a.waiting.get(eventId) : a.slots.get(where)?.inFlight.get(eventId))?.attempts ?? 0;
    },
    async forget(agentId) {
      agents.delete(agentId);
    },
  };
}
