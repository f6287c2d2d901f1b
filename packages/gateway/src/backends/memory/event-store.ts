import { TIMELINE_MAX_STEPS, type AppendResult, type EventRecord, type EventStore, type NewEvent, type TimelineEntry } from '../../ports';

export interface MemoryEventStoreOptions {
  /** How long a finished event is kept (late frames about it get UNKNOWN_EVENT either way). */
  finishedRetentionMs: number;
  /** Timelines kept at most (the oldest go first), so one node's memory stays bounded. */
  maxTimelines?: number;
}

/** Events live in this process only: the memory backend serves one node and is not durable. */
export function createMemoryEventStore(options: MemoryEventStoreOptions): EventStore & { sweep(now: number): void } {
  const events = new Map<string, EventRecord>();
  const finishedAt = new Map<string, number>();
  /** eventId → when its final was noted, until it is handed on. */
  const pendingFinals = new Map<string, number>();
  /** appId + key → a copy of the first event (without its payload), until expiresAt. */
  const idempotency = new Map<string, { record: EventRecord; expiresAt: number }>();
  const orders = new Map<string, number>();
  /** eventId → steps, in the order the events were first noted (which is also the eviction order). */
  const timelines = new Map<string, { steps: TimelineEntry[]; keepUntil: number }>();
  const maxTimelines = options.maxTimelines ?? 100_000;

  return {
    async append(event: NewEvent, key, ttlMs): Promise<AppendResult> {
      const idemKey = key === undefined ? undefined : `${event.appId}\u0000${key}`;
      if (idemKey !== undefined) {
        const seen = idempotency.get(idemKey);
        if (seen && seen.expiresAt > event.acceptedAt) {
          return { record: events.get(seen.record.id) ?? seen.record, duplicate: true };
        }
      }
      const order = (orders.get(event.agentId) ?? 0) + 1;
      orders.set(event.agentId, order);
      const record: EventRecord = { ...event, order, queued: false, finished: false };
      events.set(record.id, record);
      if (idemKey !== undefined) {
        idempotency.set(idemKey, { record: { ...record, payloadRaw: '' }, expiresAt: event.acceptedAt + ttlMs });
      }
      return { record, duplicate: false };
    },
    async findByKey(appId, key, now) {
      const seen = idempotency.get(`${appId}\u0000${key}`);
      if (!seen || seen.expiresAt <= now) return null;
      return events.get(seen.record.id) ?? seen.record;
    },
    async get(eventId) {
      return events.get(eventId) ?? null;
    },
    async setQueued(eventId, queued) {
      const record = events.get(eventId);
      if (record) record.queued = queued;
      for (const seen of idempotency.values()) if (seen.record.id === eventId) seen.record.queued = queued;
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
      finishedAt.set(eventId, Date.now());
      pendingFinals.set(eventId, now);
      return record;
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
    async note(eventId, entry, retentionMs) {
      let timeline = timelines.get(eventId);
      if (!timeline) {
        if (timelines.size >= maxTimelines) timelines.delete(timelines.keys().next().value as string);
        timelines.set(eventId, (timeline = { steps: [], keepUntil: 0 }));
      }
      if (timeline.steps.length >= TIMELINE_MAX_STEPS && entry.kind !== 'final') return;
      timeline.steps.push({ ...entry });
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
        events.delete(id);
      }
      for (const [k, seen] of idempotency) if (seen.expiresAt <= now) idempotency.delete(k);
    },
  };
}
