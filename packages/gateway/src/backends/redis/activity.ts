import type { RedisClient } from './connect';
import {
  minuteExpiry,
  newestFirst,
  type ActivityEvent,
  type ActivityEventFields,
  type ActivityEventUpdate,
  type ActivityStore,
  type ActivityStoreOptions,
} from '../../ports';
import type { Keys } from './keys';
import type { RunScript } from './scripts';

/** The numeric fields of a row, which read back as numbers. */
const NUMERIC: (keyof ActivityEventFields)[] = ['acceptedAt', 'attempt', 'deliveredMs', 'firstTokenMs', 'finalMs'];

/** The index's order (ports/activity.ts newestFirst), for a batch of updates. */
const updatesNewestFirst = (a: ActivityEventUpdate, b: ActivityEventUpdate) =>
  newestFirst({ acceptedAt: a.fields.acceptedAt, eventId: a.eventId }, { acceptedAt: b.fields.acceptedAt, eventId: b.eventId });

/**
 * The activity store on Redis, every key under one hash tag. A minute is one hash of counters
 * (HINCRBY from every node) with a TTL. An event's row is one hash with a TTL, indexed by a
 * sorted set of ids by accept time. One script merges a batch of rows and trims the index to the
 * bounds; the rows it drops are then deleted, not left to outlive their place in the index by the
 * whole retention.
 */
export function createRedisActivityStore(client: RedisClient, run: RunScript, keys: Keys, options: ActivityStoreOptions): ActivityStore {

  return {
    async add(minute, counts) {
      if (counts.size === 0) return;
      const key = keys.activityMinute(minute);
      const batch = client.pipeline();
      for (const [field, n] of counts) batch.hincrby(key, field, n);
      batch.pexpireat(key, minuteExpiry(minute, options.retentionMs));
      await exec(batch);
    },
    async minutes(from, to) {
      const starts: number[] = [];
      for (let minute = from; minute <= to; minute += 60_000) starts.push(minute);
      const batch = client.pipeline();
      for (const minute of starts) batch.hgetall(keys.activityMinute(minute));
      const answers = (await exec(batch)) as Record<string, string>[];
      return starts.flatMap((minute, i) => {
        const raw = answers[i] ?? {};
        if (Object.keys(raw).length === 0) return [];
        return [{ minute, counts: Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, Number(v)])) }];
      });
    },
    async putEvents(updates, now) {
      if (updates.length === 0) return;
      // Past the newest maxEvents of the batch, a row would be dropped as soon as written.
      const kept = updates.length <= options.maxEvents ? updates : [...updates].sort(updatesNewestFirst).slice(0, options.maxEvents);
      // A piece at a time: Redis runs a script to its end before anything else, and a second's
      // rows at a thousand events a second took it 10 ms, which every other command waited out.
      for (let from = 0; from < kept.length; from += ROWS_PER_SCRIPT) {
        const piece = kept.slice(from, from + ROWS_PER_SCRIPT);
        const args: (string | number)[] = [now - options.retentionMs, options.maxEvents, options.retentionMs];
        for (const { eventId, fields } of piece) {
          const pairs = Object.entries(fields).filter(([, value]) => value !== undefined);
          args.push(eventId, fields.acceptedAt, pairs.length, ...pairs.flatMap(([name, value]) => [name, String(value)]));
        }
        const rowKeys = piece.map(({ eventId }) => keys.activityEvent(eventId));
        const dropped = (await run('putActivity', [keys.activityRecent, ...rowKeys], args)) as string[];
        for (let i = 0; i < dropped.length; i += UNLINK_CHUNK) {
          await client.unlink(...dropped.slice(i, i + UNLINK_CHUNK).map((id) => keys.activityEvent(id)));
        }
      }
    },
    async recentEvents(limit) {
      const ids = await client.zrevrange(keys.activityRecent, 0, limit - 1);
      if (ids.length === 0) return [];
      const batch = client.pipeline();
      for (const id of ids) batch.hgetall(keys.activityEvent(id));
      const rows = (await exec(batch)) as Record<string, string>[];
      // A row deleted between the two reads is skipped.
      return ids.flatMap((eventId, i) => (rows[i] && Object.keys(rows[i]).length > 0 ? [parseRow(eventId, rows[i])] : []));
    },
  };
}

/**
 * Rows per putActivity script, and keys per UNLINK: each command stays a piece of work of well
 * under a millisecond for Redis (about 10 µs a row), so other clients' commands are not held up
 * behind the Dashboard's writes.
 */
export const ROWS_PER_SCRIPT = 50;
const UNLINK_CHUNK = 100;

async function exec(batch: ReturnType<RedisClient['pipeline']>): Promise<unknown[]> {
  const results = (await batch.exec()) ?? [];
  const failed = results.find(([err]) => err);
  if (failed) throw failed[0];
  return results.map(([, value]) => value);
}

function parseRow(eventId: string, raw: Record<string, string>): ActivityEvent {
  const row: Record<string, string | number> = { ...raw, eventId };
  for (const name of NUMERIC) if (raw[name] !== undefined) row[name] = Number(raw[name]);
  return row as unknown as ActivityEvent;
}
