import type { Redis } from 'ioredis';
import { TIMELINE_MAX_STEPS, type EventRecord, type EventStore, type TimelineEntry } from '../../ports';
import type { Keys } from './keys';
import { codeOf, ScriptCode } from './script-codes';
import type { RunScript } from './scripts';

/** An unfinished event outlives its TTL by this much: it may be in flight at an agent. */
const IN_FLIGHT_GRACE_MS = 24 * 3600_000;

export interface RedisEventStoreOptions {
  /**
   * How long a finished event's record (with its final frame) is kept (RELAY_FINISHED_RETENTION_MS).
   * One recorded under an idempotency key is kept as long as the key (see finishEvent-2.lua).
   */
  finishedRetentionMs: number;
  /** Told the size of each final frame stored (relay_stored_final_bytes). */
  onFinalStored?: (bytes: number) => void;
}

export function createRedisEventStore(client: Redis, run: RunScript, keys: Keys, options: RedisEventStoreOptions): EventStore {
  const { finishedRetentionMs } = options;
  const eventPrefix = keys.event('');

  const get = async (eventId: string): Promise<EventRecord | null> => {
    const fields = await client.hgetall(keys.event(eventId));
    return fields.id ? toRecord(fields) : null;
  };

  // An event gone meanwhile (ended and forgotten) has nothing left to update.
  const update = async (eventId: string, fields: Record<string, string>) =>
    codeOf('updateEvent', await run('updateEvent', [keys.event(eventId)], Object.entries(fields).flat()), [ScriptCode.Ok, ScriptCode.Missing]);

  return {
    async append(event, idempotencyKey, idempotencyTtlMs) {
      const idemKey = idempotencyKey === undefined ? '' : keys.idempotency(event.appId, idempotencyKey);
      const fields: Record<string, string> = {
        id: event.id,
        app: event.appId,
        agent: event.agentId,
        thread: event.threadId,
        session: event.sessionKey,
        payload: event.payloadRaw,
        acceptedAt: String(event.acceptedAt),
        expiresAt: String(event.expiresAt),
        appConn: event.appConnId,
        // finishEvent keeps the record as long as this key, which resends are answered from
        ...(idemKey ? { idem: idemKey } : {}),
      };
      const ttl = Math.max(0, event.expiresAt - event.acceptedAt) + IN_FLIGHT_GRACE_MS;
      const [known, value] = (await run(
        'appendEvent',
        [idemKey, keys.agentOrder(event.agentId)],
        [eventPrefix, event.id, idempotencyTtlMs, ttl, ...Object.entries(fields).flat()],
      )) as [number, string | number];
      if (known === 1) {
        const first = await get(String(value));
        if (first) return { record: first, duplicate: true };
      }
      return { record: { ...event, order: Number(value), queued: false, finished: false }, duplicate: false };
    },
    async findByKey(appId, idempotencyKey) {
      const eventId = await client.get(keys.idempotency(appId, idempotencyKey));
      return eventId ? get(eventId) : null;
    },
    get,
    async setQueued(eventId, queued) {
      await update(eventId, { queued: queued ? '1' : '0' });
    },
    async setAppConnection(eventId, appConnId) {
      await update(eventId, { appConn: appConnId });
    },
    async finish(eventId, final, now) {
      const flat = (await run('finishEvent', [keys.event(eventId), keys.finalsPending], [
        finishedRetentionMs, final, now, eventId,
      ])) as string[] | null;
      if (!flat) return null;
      options.onFinalStored?.(Buffer.byteLength(final));
      const fields: Record<string, string> = {};
      for (let i = 0; i < flat.length; i += 2) fields[flat[i] as string] = flat[i + 1] as string;
      return toRecord(fields);
    },
    async finalHandedOn(eventId) {
      await client.zrem(keys.finalsPending, eventId);
    },
    async overdueFinals(before, now, limit) {
      return (await run('overdueFinals', [keys.finalsPending], [before, now, limit])) as string[];
    },
    async note(eventId, entry, retentionMs) {
      const noted = await run('noteTimeline', [keys.timeline(eventId)], [
        JSON.stringify(entry), TIMELINE_MAX_STEPS, retentionMs, entry.kind === 'final' ? '1' : '0',
      ]);
      codeOf('noteTimeline', noted, [ScriptCode.Ok, ScriptCode.Unchanged]); // a full timeline drops the step
    },
    async timeline(eventId) {
      return (await client.lrange(keys.timeline(eventId), 0, -1)).map((raw) => JSON.parse(raw) as TimelineEntry);
    },
  };
}

function toRecord(f: Record<string, string>): EventRecord {
  return {
    id: f.id as string,
    appId: f.app as string,
    agentId: f.agent as string,
    threadId: f.thread as string,
    sessionKey: f.session as string,
    payloadRaw: f.payload ?? '', // dropped once finished
    acceptedAt: Number(f.acceptedAt),
    expiresAt: Number(f.expiresAt),
    order: Number(f.order),
    appConnId: f.appConn as string,
    queued: f.queued === '1',
    finished: f.finished === '1',
    ...(f.final !== undefined ? { final: f.final } : {}),
  };
}
