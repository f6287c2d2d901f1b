import type {
  AgentConnectionSlot,
  Assignment,
  DeliveryQueue,
  DispatchResult,
  QueueEntry,
} from '../../ports';

interface Entry extends QueueEntry {
  /** Deliveries so far; the next assignment carries attempt = attempts + 1. */
  attempts: number;
}

interface Slot extends AgentConnectionSlot {
  inFlight: Map<string, Entry>;
}

interface AgentState {
  /** Waiting entries, sorted by accept order. */
  waiting: Entry[];
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

/**
 * The delivery rules of the DeliveryQueue contract, in one process. It is also the reference
 * the Redis backend is checked against by the shared contract suite.
 */
export function createMemoryDeliveryQueue(now: () => number = Date.now, maxIdleSessions = 10_000): DeliveryQueue {
  const agents = new Map<string, AgentState>();

  const state = (agentId: string): AgentState => {
    let s = agents.get(agentId);
    if (!s) {
      s = { waiting: [], slots: new Map(), holders: new Map(), where: new Map(), sessionLoad: new Map() };
      agents.set(agentId, s);
    }
    return s;
  };

  const insertWaiting = (s: AgentState, entry: Entry) => {
    let lo = 0;
    let hi = s.waiting.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((s.waiting[mid] as Entry).order < entry.order) lo = mid + 1;
      else hi = mid;
    }
    s.waiting.splice(lo, 0, entry);
    s.where.set(entry.eventId, WAITING);
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

  /** One pass over the waiting list in accept order; a session that cannot go blocks its later events. */
  const dispatch = (agentId: string): DispatchResult => {
    const s = state(agentId);
    const t = now();
    const assigned: Assignment[] = [];
    const expired: string[] = [];
    let free = 0;
    for (const slot of s.slots.values()) free += Math.max(0, slot.maxInFlight - slot.inFlight.size);
    // With no room anywhere nothing can be assigned; expiry is the scheduler's job then.
    if (free === 0) return { assigned, expired };
    const blocked = new Set<string>();
    const remaining: Entry[] = [];
    for (const [i, entry] of s.waiting.entries()) {
      if (free === 0) {
        remaining.push(...s.waiting.slice(i));
        break;
      }
      if (entry.expiresAt <= t) {
        expired.push(entry.eventId);
        forget(s, entry);
        continue;
      }
      const slot =
        blocked.has(entry.sessionKey) || entry.notBefore > t ? undefined : slotFor(s, entry.sessionKey);
      if (!slot || slot.inFlight.size >= slot.maxInFlight) {
        blocked.add(entry.sessionKey);
        remaining.push(entry);
        continue;
      }
      entry.attempts += 1;
      free -= 1;
      slot.inFlight.set(entry.eventId, entry);
      s.where.set(entry.eventId, slot.connId);
      assigned.push({ eventId: entry.eventId, agentId, connId: slot.connId, nodeId: slot.nodeId, attempt: entry.attempts });
    }
    s.waiting = remaining;
    evictIdleHolders(s);
    return { assigned, expired };
  };

  return {
    async enqueue(entry) {
      const s = state(entry.agentId);
      // Enqueued before (a retried call, or a resend): only dispatch; a second entry would
      // deliver the event twice. An event in flight is reported as assigned again, to the same
      // connection with the same attempt: the node that assigned it may have died before
      // sending it there.
      const where = s.where.get(entry.eventId);
      if (where !== undefined) {
        const result = dispatch(entry.agentId);
        const slot = s.slots.get(where);
        const held = slot?.inFlight.get(entry.eventId);
        if (slot && held) {
          result.assigned.push({ eventId: held.eventId, agentId: entry.agentId, connId: slot.connId, nodeId: slot.nodeId, attempt: held.attempts });
        }
        return result;
      }
      s.sessionLoad.set(entry.sessionKey, (s.sessionLoad.get(entry.sessionKey) ?? 0) + 1);
      insertWaiting(s, { ...entry, attempts: 0 });
      return dispatch(entry.agentId);
    },
    async attach(agentId, slot) {
      state(agentId).slots.set(slot.connId, { ...slot, inFlight: new Map() });
      return dispatch(agentId);
    },
    async detach(agentId, connId) {
      const s = state(agentId);
      const slot = s.slots.get(connId);
      if (!slot) return { assigned: [], expired: [] };
      s.slots.delete(connId);
      for (const [session, holder] of s.holders) if (holder === connId) s.holders.delete(session);
      const late: string[] = [];
      for (const entry of slot.inFlight.values()) {
        if (entry.expiresAt > now()) insertWaiting(s, entry);
        else {
          // its time to wait is over: it ends now instead of waiting for an agent again
          forget(s, entry);
          late.push(entry.eventId);
        }
      }
      const result = dispatch(agentId);
      return { assigned: result.assigned, expired: [...result.expired, ...late] };
    },
    async remove(agentId, eventId, onlyIfWaiting) {
      const s = state(agentId);
      const where = s.where.get(eventId);
      if (where === undefined) return { was: null, assigned: [], expired: [] };
      if (where === WAITING) {
        const entry = s.waiting.find((e) => e.eventId === eventId) as Entry;
        s.waiting = s.waiting.filter((e) => e !== entry);
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
      return agents.get(agentId)?.waiting.length ?? 0;
    },
    async holder(agentId, eventId) {
      const where = agents.get(agentId)?.where.get(eventId);
      return where === undefined || where === WAITING ? null : where;
    },
  };
}
