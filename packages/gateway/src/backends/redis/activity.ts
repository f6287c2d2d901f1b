import type { RedisClient } from './connect';
import { minuteExpiry, type ActivityEvent, type ActivityEventFields, type ActivityStore, type ActivityStoreOptions } from '../../ports';
import type { Keys } from './keys';

const NUMERIC: (keyof ActivityEventFields)[] = ['acceptedAt', 'attempt', 'deliveredMs', 'firstTokenMs', 'finalMs'];

/**
 * The activity store on Redis. A minute is one hash of counters (HINCRBY from every node) with a
 * TTL; an event's row is one hash with a TTL, indexed by a sorted set of ids by accept time that
 * each write trims to the bounds. Every call is one pipelined round trip.
 */
export function createRedisActivityStore(client: RedisClient, keys: Keys, options: ActivityStoreOptions): ActivityStore {

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
      const batch = client.pipeline();
      const index: (string | number)[] = [];
      for (const { eventId, fields } of updates) {
        const key = keys.activityEvent(eventId);
        const flat = Object.entries(fields).filter(([, v]) => v !== undefined).flatMap(([k, v]) => [k, String(v)]);
        batch.hset(key, ...flat);
        batch.pexpire(key, options.retentionMs);
        index.push(fields.acceptedAt, eventId);
      }
      batch.zadd(keys.activityRecent, ...index);
      batch.zremrangebyscore(keys.activityRecent, '-inf', `(${now - options.retentionMs}`);
      batch.zremrangebyrank(keys.activityRecent, 0, -(options.maxEvents + 1));
      batch.pexpire(keys.activityRecent, options.retentionMs);
      await exec(batch);
    },
    async recentEvents(limit) {
      const ids = await client.zrevrange(keys.activityRecent, 0, limit - 1);
      if (ids.length === 0) return [];
      const batch = client.pipeline();
      for (const id of ids) batch.hgetall(keys.activityEvent(id));
      const rows = (await exec(batch)) as Record<string, string>[];
      // A row whose hash expired before the index was trimmed is skipped.
      return ids.flatMap((eventId, i) => (rows[i] && Object.keys(rows[i]).length > 0 ? [parseRow(eventId, rows[i])] : []));
    },
  };
}

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
