/**
 * What one step of an event adds to its row in the Dashboard's recent events. Each node writes
 * only what it saw (the accept, a delivery, the first token, the end) and the store merges the
 * fields of one event, so the row is whole whichever nodes wrote its parts and in what order.
 * Never the payload.
 */
export interface ActivityEventFields {
  appId: string;
  agentId: string;
  threadId: string;
  acceptedAt: number;
  attempt?: number;
  /** From the accept to the latest delivery, ms. */
  deliveredMs?: number;
  firstTokenMs?: number;
  finalMs?: number;
  /** `reply_<finish_reason>` or the final error's code. */
  outcome?: string;
}

export interface ActivityEventUpdate {
  eventId: string;
  fields: ActivityEventFields;
}

/** One event's row as read back: every field any node wrote for it. */
export interface ActivityEvent extends ActivityEventFields {
  eventId: string;
}

/** Cluster-wide counts of one minute: field name to the sum every node added to it. */
export interface ActivityMinute {
  /** Start of the minute, ms since the epoch. */
  minute: number;
  counts: Record<string, number>;
}

export interface ActivityStoreOptions {
  /** How long minute counts and event rows are kept (RELAY_ACTIVITY_RETENTION_MS). */
  retentionMs: number;
  /** Event rows kept at most, the newest by accept time (RELAY_RECENT_EVENTS_MAX). */
  maxEvents: number;
}

/** The defaults of RELAY_ACTIVITY_RETENTION_MS and RELAY_RECENT_EVENTS_MAX: a day, 1,000 events. */
export const DEFAULT_ACTIVITY: ActivityStoreOptions = { retentionMs: 86_400_000, maxEvents: 1_000 };

/**
 * The recent events' order, which also decides which rows the bound keeps: newest accept first,
 * within a millisecond by event id, descending (as a Redis sorted set ties, read in reverse).
 */
export function newestFirst(a: { acceptedAt: number; eventId: string }, b: { acceptedAt: number; eventId: string }): number {
  return b.acceptedAt - a.acceptedAt || (a.eventId < b.eventId ? 1 : -1);
}

/**
 * When a minute is forgotten: the retention after the minute ends, so the oldest minute in a
 * window is whole. Counted from the minute, not from the write, as a late flush must not keep it.
 */
export function minuteExpiry(minute: number, retentionMs: number): number {
  return minute + 60_000 + retentionMs;
}

/**
 * The Dashboard's view of traffic, written in batches (a node flushes what it counted about once
 * a second), never once per event. Counts are added, so every node adds into the same minute and
 * a read sees the cluster's sum. Storage is bounded: minutes and rows older than the retention
 * are forgotten, and only the newest `maxEvents` rows are kept.
 */
export interface ActivityStore {
  /** Adds these counts to the minute that starts at `minute`. */
  add(minute: number, counts: Map<string, number>): Promise<void>;
  /** The minutes from `from` to `to` (both minute starts) that have counts, oldest first. */
  minutes(from: number, to: number): Promise<ActivityMinute[]>;
  /** Merges each update into its event's row (creating it), and drops rows past the bounds. */
  putEvents(updates: ActivityEventUpdate[], now: number): Promise<void>;
  /** Up to `limit` rows, the newest accept first; rows accepted in the same millisecond by event id, descending. */
  recentEvents(limit: number): Promise<ActivityEvent[]>;
}
