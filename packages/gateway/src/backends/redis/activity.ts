import type { RedisClient } from './connect';
import { minuteExpiry, type ActivityEvent, type ActivityEventFields, type ActivityStore, type ActivityStoreOptions } from '../../ports';
import type { Keys } from './keys';
import type { RunScript } from './scripts';

/** Every field a row may have, and how it reads back. */
const ROW_FIELDS: Record<keyof ActivityEventFields, 'string' | 'number'> = {
  appId: 'string',
  agentId: 'string',
  threadId: 'string',
  acceptedAt: 'number',
  attempt: 'number',
  deliveredMs: 'number',
  firstTokenMs: 'number',
  finalMs: 'number',
  outcome: 'string',
};
const NAMES = Object.keys(ROW_FIELDS) as (keyof ActivityEventFields)[];

/**
 * The activity store on Redis, every key under one hash tag. A minute is one hash of counters
 * (HINCRBY from every node) with a TTL. The rows are one hash (`<event id>|<name>` fields),
 * indexed by a sorted set of ids by accept time; one script merges a batch of rows and drops
 * those past the bounds, with their fields. Every call is one round trip.
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
      const args: (string | number)[] = [now - options.retentionMs, options.maxEvents, options.retentionMs, NAMES.length, ...NAMES];
      for (const { eventId, fields } of updates) {
        const pairs: string[] = [];
        for (const name of NAMES) {
          const value = fields[name];
          if (value !== undefined) pairs.push(name, String(value));
        }
        args.push(eventId, fields.acceptedAt, pairs.length / 2, ...pairs);
      }
      await run('putActivity', [keys.activityRecent, keys.activityRows], args);
    },
    async recentEvents(limit) {
      const ids = await client.zrevrange(keys.activityRecent, 0, limit - 1);
      if (ids.length === 0) return [];
      const values = await client.hmget(keys.activityRows, ...ids.flatMap((id) => NAMES.map((name) => `${id}|${name}`)));
      // A row dropped between the two reads has no fields left: it is skipped.
      return ids.flatMap((eventId, i) => {
        const row: Record<string, string | number> = { eventId };
        NAMES.forEach((name, k) => {
          const value = values[i * NAMES.length + k];
          if (value !== null && value !== undefined) row[name] = ROW_FIELDS[name] === 'number' ? Number(value) : value;
        });
        return row.acceptedAt === undefined ? [] : [row as unknown as ActivityEvent];
      });
    },
  };
}

async function exec(batch: ReturnType<RedisClient['pipeline']>): Promise<unknown[]> {
  const results = (await batch.exec()) ?? [];
  const failed = results.find(([err]) => err);
  if (failed) throw failed[0];
  return results.map(([, value]) => value);
}
