import {
  minuteExpiry,
  newestFirst,
  type ActivityEvent,
  type ActivityEventUpdate,
  type ActivityMinute,
  type ActivityStore,
  type ActivityStoreOptions,
} from '../../ports';

/** The activity store of one process: minutes and rows in maps, pruned as they are written. */
export function createMemoryActivityStore(options: ActivityStoreOptions): ActivityStore {
  const minutes = new Map<number, Map<string, number>>();
  // Insertion order is not accept order (a late update re-creates nothing), so rows are sorted on read.
  const rows = new Map<string, ActivityEvent>();

  const prune = (now: number) => {
    const oldest = now - options.retentionMs;
    for (const minute of minutes.keys()) if (minuteExpiry(minute, options.retentionMs) <= now) minutes.delete(minute);
    for (const [id, row] of rows) if (row.acceptedAt < oldest) rows.delete(id);
    if (rows.size > options.maxEvents) {
      for (const row of [...rows.values()].sort(newestFirst).slice(options.maxEvents)) rows.delete(row.eventId);
    }
  };

  return {
    async add(minute, counts) {
      let bucket = minutes.get(minute);
      if (!bucket) minutes.set(minute, (bucket = new Map()));
      for (const [field, n] of counts) bucket.set(field, (bucket.get(field) ?? 0) + n);
      prune(Date.now());
    },
    async minutes(from, to) {
      const found: ActivityMinute[] = [];
      for (const [minute, counts] of minutes) {
        if (minute >= from && minute <= to && minuteExpiry(minute, options.retentionMs) > Date.now()) found.push({ minute, counts: Object.fromEntries(counts) });
      }
      return found.sort((a, b) => a.minute - b.minute);
    },
    async putEvents(updates: ActivityEventUpdate[], now: number) {
      for (const { eventId, fields } of updates) rows.set(eventId, { ...rows.get(eventId), ...fields, eventId });
      prune(now);
    },
    async recentEvents(limit) {
      return [...rows.values()].sort(newestFirst).slice(0, limit);
    },
  };
}
