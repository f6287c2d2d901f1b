import { DEFAULT_RATE_WINDOW_MS, RateRefused, TIMELINE_MAX_STEPS, type AppendResult, type EventRecord, type EventStore, type NewEvent, type TimelineEntry } from '../../ports';
import { createMemoryRateLimiter } from './rate-limiter';

export interface MemoryEventStoreOptions {
  /**
   * How long a finished event is kept (late frames about it get UNKNOWN_EVENT either way); one
   * recorded under an idempotency key is kept as long as the key, for resends.
   */
  finishedRetentionMs: number;
  /** The rate windows' length (RELAY_RATE_WINDOW_MS); DEFAULT_RATE_WINDOW_MS unless given. */
  rateWindowMs?: number;
  /** Timelines kept at most (the oldest go first), so one node's memory stays bounded. */
  maxTimelines?: number;
}

/** Events live in this process only: the memory backend serves one node and is not durable. */
export function createMemoryEventStore(options: MemoryEventStoreOptions): EventStore & { sweep(now: number): void } {
  const events = new Map<string, EventRecord>();
  /** eventId → when it finished, in finish order, until its retention passes. */
  const finishedAt = new Map<string, number>();
  /** eventId → when its final was noted, until it is handed on. */
  const pendingFinals = new Map<string, number>();
  /** appId + key → the event first recorded under it, until expiresAt; in the order recorded. */
  const idempotency = new Map<string, { eventId: string; expiresAt: number }>();
  /** eventId → until when a key answers with it: its record outlives its retention until then. */
  const keyedUntil = new Map<string, number>();
  const orders = new Map<string, number>();
  /** eventId → steps, in the order the events were first noted (which is also the eviction order). */
  const timelines = new Map<string, { steps: TimelineEntry[]; keepUntil: number }>();
  const maxTimelines = options.maxTimelines ?? 100_000;
  const takeOrder = (agentId: string) => {
    const order = (orders.get(agentId) ?? 0) + 1;
    orders.set(agentId, order);
    return order;
  };
  // Counts each new event appended with an admission.
  const rateLimiter = createMemoryRateLimiter(options.rateWindowMs ?? DEFAULT_RATE_WINDOW_MS);

  return {
    async append(event: NewEvent, key, ttlMs, admission): Promise<AppendResult> {
      const record: EventRecord = { ...event, queued: false, finished: false };
      // Taken as append is called, as nextOrder takes it. This store never queues: the caller does.
      const order = admission ? takeOrder(event.agentId) : undefined;
      let notBefore = 0;
      if (admission) {
        events.set(record.id, record);
        try {
          const { softPerMin, hardPerMin } = admission.rate;
          const rate = await rateLimiter.hit(event.appId, softPerMin, hardPerMin, event.acceptedAt);
          if (!rate.allowed) throw new RateRefused();
          notBefore = rate.notBefore;
        } finally {
          events.delete(record.id); // set again below, unless refused or a duplicate
        }
      }
      const idemKey = key === undefined ? undefined : `${event.appId}\u0000${key}`;
      if (idemKey !== undefined) {
        const seen = idempotency.get(idemKey);
        const first = seen && seen.expiresAt > event.acceptedAt ? events.get(seen.eventId) : undefined;
        if (first) return { record: first, duplicate: true, notBefore: 0 };
        if (seen) forgetKey(idemKey, seen);
      }
      events.set(record.id, record);
      if (idemKey !== undefined) {
        const expiresAt = event.acceptedAt + ttlMs;
        idempotency.set(idemKey, { eventId: record.id, expiresAt });
        keyedUntil.set(record.id, expiresAt);
      }
      return { record, duplicate: false, notBefore, ...(order !== undefined ? { order } : {}) };
    },
    async nextOrder(agentId) {
      return takeOrder(agentId);
    },
    async findByKey(appId, key, now) {
      const seen = idempotency.get(`${appId}\u0000${key}`);
      if (!seen || seen.expiresAt <= now) return null;
      return events.get(seen.eventId) ?? null;
    },
    async get(eventId) {
      return events.get(eventId) ?? null;
    },
    async setQueued(eventId, queued) {
      const record = events.get(eventId);
      if (record) record.queued = queued;
    },
    async setAppConnection(eventId, appConnId) {
      const record = events.get(eventId);
      if (record) record.appConnId = appConnId;
    },
    async finish(eventId, final, now) {
      const record = events.get(eventId);
      if (!record || record.finished) return null;
      record.finished = true;
      record.final = final;
      // The payload goes: a finished event is never delivered again. A copy, not the object
      // itself, as the caller (and an in-flight delivery) may still hold it.
      const kept = { ...record, payloadRaw: '' };
      events.set(eventId, kept);
      finishedAt.set(eventId, Date.now());
      pendingFinals.set(eventId, now);
      return { ...kept };
    },
    async finalHandedOn(eventId) {
      pendingFinals.delete(eventId);
    },
    async overdueFinals(before, now, limit) {
      const claimed: string[] = [];
      for (const [eventId, noted] of pendingFinals) {
        if (claimed.length >= limit) break;
        if (noted < before) claimed.push(eventId);
      }
      for (const eventId of claimed) pendingFinals.set(eventId, now);
      return claimed;
    },
    async note(eventId, steps, retentionMs) {
      let timeline = timelines.get(eventId);
      if (!timeline) {
        if (timelines.size >= maxTimelines) timelines.delete(timelines.keys().next().value as string);
        timelines.set(eventId, (timeline = { steps: [], keepUntil: 0 }));
      }
      for (const step of steps) {
        if (timeline.steps.length >= TIMELINE_MAX_STEPS && step.kind !== 'final') continue;
        timeline.steps.push({ ...step });
      }
      timeline.keepUntil = Date.now() + retentionMs;
    },
    async timeline(eventId) {
      const timeline = timelines.get(eventId);
      return timeline && timeline.keepUntil > Date.now() ? timeline.steps.map((s) => ({ ...s })) : [];
    },
    sweep(now) {
      for (const [id, timeline] of timelines) if (timeline.keepUntil <= now) timelines.delete(id);
      for (const [id, at] of finishedAt) {
        if (at + options.finishedRetentionMs > now) break; // insertion order is finish order
        finishedAt.delete(id);
        // A resend under its key is answered from the record: it goes with the key.
        if ((keyedUntil.get(id) ?? 0) <= now) forget(id);
      }
      for (const [k, seen] of idempotency) if (seen.expiresAt <= now) forgetKey(k, seen);
    },
  };

  function forget(eventId: string): void {
    events.delete(eventId);
    keyedUntil.delete(eventId);
  }

  /** Drops an expired key, and its event's record if it finished and only the key still kept it. */
  function forgetKey(idemKey: string, seen: { eventId: string; expiresAt: number }): void {
    idempotency.delete(idemKey);
    keyedUntil.delete(seen.eventId);
    if (events.get(seen.eventId)?.finished && !finishedAt.has(seen.eventId)) forget(seen.eventId);
  }
}
