import type { AppendResult, EventRecord, EventStore, NewEvent } from '../../ports';

export interface MemoryEventStoreOptions {
  /** How long a finished event is kept (late frames about it get UNKNOWN_EVENT either way). */
  finishedRetentionMs: number;
}

/** Events live in this process only: the memory backend serves one node and is not durable. */
export function createMemoryEventStore(options: MemoryEventStoreOptions): EventStore & { sweep(now: number): void } {
  const events = new Map<string, EventRecord>();
  const finishedAt = new Map<string, number>();
  /** appId + key → a copy of the first event (without its payload), until expiresAt. */
  const idempotency = new Map<string, { record: EventRecord; expiresAt: number }>();
  const orders = new Map<string, number>();

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
    async finish(eventId) {
      const record = events.get(eventId);
      if (!record || record.finished) return null;
      record.finished = true;
      finishedAt.set(eventId, Date.now());
      return record;
    },
    sweep(now) {
      for (const [id, at] of finishedAt) {
        if (at + options.finishedRetentionMs > now) break; // insertion order is finish order
        finishedAt.delete(id);
        events.delete(id);
      }
      for (const [k, seen] of idempotency) if (seen.expiresAt <= now) idempotency.delete(k);
    },
  };
}
