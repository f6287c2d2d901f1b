import { runsInSendOrder, type RedisClient } from './connect';
import { gatherInTurn } from '../../turn-end';
import type { ReplicaWait } from './replicas';
import {
  DEFAULT_RATE_WINDOW_MS,
  rateDecision,
  RateRefused,
  TIMELINE_MAX_STEPS,
  type Admission,
  type DispatchResult,
  type EventRecord,
  type EventStore,
  type FinishAndRemove,
  type NewEvent,
  type RateDecision,
  type TimelineEntry,
} from '../../ports';
import { DEFAULT_MAX_IDLE_SESSIONS, dispatchResult, removal, type RawDispatch, type RawRemoval } from './delivery-queue';
import { createRedisRateLimiter } from './rate-limiter';
import type { Keys } from './keys';
import { createExpiryRefresh } from './expiry-refresh';
import { expiryMember } from './expiry-sweep';
import { codeOf, ScriptCode } from './script-codes';
import type { RunScript } from './scripts';

/** An idempotency key to claim for a new event. */
interface KeyClaim {
  key: string;
  eventId: string;
  ttlMs: number;
}

/** An unfinished event outlives its TTL by this much: it may be in flight at an agent. */
const IN_FLIGHT_GRACE_MS = 24 * 3600_000;

export interface RedisEventStoreOptions {
  /**
   * How long a finished event's record (with its final frame) is kept (RELAY_FINISHED_RETENTION_MS).
   * One recorded under an idempotency key is kept as long as the key (see include-finish.lua).
   */
  finishedRetentionMs: number;
  /** The rate windows' length (RELAY_RATE_WINDOW_MS); DEFAULT_RATE_WINDOW_MS unless given. */
  rateWindowMs?: number;
  /** Told the size of each final frame stored (relay_stored_final_bytes). */
  onFinalStored?: (bytes: number) => void;
  /**
   * Resolves once enough replicas hold the writes to these keys (RELAY_REDIS_MIN_REPLICAS),
   * rejects if they do not in time: `accepted` and a recorded final are never said before.
   */
  replicated?: ReplicaWait;
  /**
   * For `finishAndRemove` (one primary): the set of event expiries (expiry-sweep.ts) and how
   * long an ended event's token stream is kept (TokenStreamOptions.retentionMs).
   */
  ending?: { expiries: string; streamRetentionMs: number };
}

/** lua/include-finish.lua's answer: the record it ended, flat, or null. */
type FinishedFlat = string[] | null;

export type RedisEventStore = EventStore & {
  /** Backend.finishAndRemove, in one script (lua/finishAndRemove-19.lua); only on one primary, given `ending`. */
  finishAndRemove?: FinishAndRemove;
};

export function createRedisEventStore(client: RedisClient, run: RunScript, keys: Keys, options: RedisEventStoreOptions): RedisEventStore {
  const { finishedRetentionMs, ending } = options;
  const rateWindowMs = options.rateWindowMs ?? DEFAULT_RATE_WINDOW_MS;
  // Counts each new event appended with an admission (on one primary, through acceptEvent-N.lua).
  const rateLimiter = createRedisRateLimiter(run, keys, rateWindowMs);
  const expiries = createExpiryRefresh(client);

  // Finals handed on in one turn leave the pending list in one command.
  const handedOn = gatherInTurn<string>((eventIds) => client.zrem(keys.finalsPending, ...eventIds));

  const get = async (eventId: string): Promise<EventRecord | null> => {
    const fields = await client.hgetall(keys.event(eventId));
    return fields.id ? toRecord(fields) : null;
  };

  // An event gone meanwhile (ended and forgotten) has nothing left to update.
  const update = async (eventId: string, fields: Record<string, string>) =>
    codeOf('updateEvent', await run('updateEvent', [keys.event(eventId)], Object.entries(fields).flat()), [ScriptCode.Ok, ScriptCode.Missing]);

  /**
   * Points the idempotency key at the new event, or finds the event it already names. A key
   * whose event's record is gone (expired, or its writer died before the record) is free again.
   * The common case in one plain command: the key is new.
   */
  const claimKey = async (claim: KeyClaim) => settleClaim(claim, await client.set(claim.key, claim.eventId, 'PX', claim.ttlMs, 'NX', 'GET'));

  /** The claim's outcome, from the event id the key named when it was tried (null: it was free, and is ours now). */
  const settleClaim = async ({ key, eventId, ttlMs }: KeyClaim, seen: string | null): Promise<EventRecord | 'ours'> => {
    let named = seen;
    for (;;) {
      if (named === null || named === eventId) return 'ours';
      const first = await get(named);
      if (first) return first;
      // Taking over a key whose record is gone needs the compare-and-set of claimKey-1.lua.
      const [won, other] = (await run('claimKey', [key], [eventId, ttlMs, named])) as [number, string?];
      named = won === 1 ? null : (other as string);
    }
  };

  /**
   * acceptEvent-N.lua: the rate check, the record, the order number, the key's claim and, where
   * allowed, the queueing. `named`: as for settleClaim (only with a claim). `queued`: when the
   * script queued it.
   */
  const admitInOneStep = async (event: NewEvent, record: { key: string; ttlMs: number; fields: string[] }, admission: Admission, claim: KeyClaim | undefined) => {
    const { softPerMin, hardPerMin } = admission.rate;
    const { window, counter, counterTtlMs } = rateLimiter.windowAt(event.appId, event.acceptedAt);
    // Queued with the delivery queue's bound on idle sessions, which the backend leaves at its default.
    const reply = (await run(
      'acceptEvent',
      [...keys.agentQueue(event.agentId), keys.agentOrder(event.agentId), counter, record.key, ...(claim ? [claim.key] : [])],
      [
        hardPerMin, counterTtlMs, softPerMin, event.id, event.sessionKey, event.expiresAt, Date.now(), DEFAULT_MAX_IDLE_SESSIONS,
        admission.queueAfter ?? '',
        record.ttlMs, claim ? claim.ttlMs : '',
        ...record.fields,
      ],
    )) as [number, number?, (string | null)?, ...Partial<RawDispatch>];
    const [count, order, named, assigned, expired] = reply;
    return {
      rate: rateDecision(count, softPerMin, window, rateWindowMs),
      order,
      named: named ?? null,
      queued: assigned && expired ? dispatchResult(event.agentId, [assigned, expired]) : undefined,
    };
  };

  /** Resolves once the writes of an event's finish are as durable as RELAY_REDIS_MIN_REPLICAS asks. */
  const finalDurable = (eventId: string) => options.replicated?.([keys.event(eventId), keys.finalsPending]);

  /** finishEvent's answer as the port gives it, once durable: the record it ended, or null. */
  const finished = async (flat: FinishedFlat, final: string, durable: (() => Promise<void>) | undefined): Promise<EventRecord | null> => {
    if (!flat) return null;
    await durable?.();
    options.onFinalStored?.(Buffer.byteLength(final));
    const fields: Record<string, string> = {};
    for (let i = 0; i < flat.length; i += 2) fields[flat[i] as string] = flat[i + 1] as string;
    return { ...toRecord(fields), finished: true, final };
  };

  return {
    nextOrder(agentId) {
      // Sent as it is called: commands on one connection run in the order they are written.
      return client.incr(keys.agentOrder(agentId));
    },
    /**
     * Accept in steps, as the keys sit on up to three Redis Cluster slots: the agent's order
     * counter (sent beside), then the record, then the idempotency key. The key is claimed last,
     * so it never names an event without a record; a node that dies before claiming it leaves a
     * record nothing points to and nothing queued, which expires, and the app, never told
     * `accepted`, sends again. Two sends under one key race on the claim: one wins, the other
     * answers with the winner's event and deletes its own record.
     *
     * With an `admission`, where the connection runs commands in the order sent (one primary),
     * the rate check, the record, the order number, the key's claim and, where the admission
     * allows, the queueing are one script (acceptEvent-N.lua): a new event costs one command, one
     * round trip, under AOF one fsync, and a refused one leaves nothing. On a cluster the record
     * may sit on another primary: it is written as `append` is called, beside the rate check, and
     * deleted again if the event is refused; the claim waits for the record's reply, and the
     * caller queues the event.
     */
    async append(event, idempotencyKey, idempotencyTtlMs, admission) {
      // Field, value pairs, flat as the script takes them
      const fields = [
        'id', event.id,
        'app', event.appId,
        'agent', event.agentId,
        'thread', event.threadId,
        'session', event.sessionKey,
        'payload', event.payloadRaw,
        'acceptedAt', String(event.acceptedAt),
        'expiresAt', String(event.expiresAt),
        'appConn', event.appConnId,
        'queued', '0',
        'finished', '0',
      ];
      // finishEvent keeps the record as long as the key, which resends are answered from
      if (idempotencyKey !== undefined) fields.push('idemUntil', String(event.acceptedAt + idempotencyTtlMs));
      const ttl = Math.max(0, event.expiresAt - event.acceptedAt) + IN_FLIGHT_GRACE_MS;
      const record = keys.event(event.id);
      const idemKey = idempotencyKey === undefined ? undefined : keys.idempotency(event.appId, idempotencyKey);
      const inOneStep = admission !== undefined && runsInSendOrder(client);
      // The order number is taken as append is called (EventStore.nextOrder's rule); in one step, by its script.
      const ordering = admission !== undefined && !inOneStep ? client.incr(keys.agentOrder(event.agentId)) : undefined;
      ordering?.catch(() => {}); // awaited with the rate check
      const durable = options.replicated?.([
        keys.agentOrder(event.agentId),
        record,
        ...(idemKey === undefined ? [] : [idemKey]),
        ...(inOneStep ? keys.agentQueue(event.agentId).slice(0, 1) : []),
      ]);
      // Two plain commands in one write, not a script of their own: they cost Redis half as much.
      // Redis reads them together and runs them back to back (as the timeline's), so only a crash
      // between the two could leave the record without its expiry.
      const writing = inOneStep ? Promise.resolve() : Promise.all([client.hset(record, ...fields), client.pexpire(record, ttl)]);
      writing.catch(() => {}); // awaited below, after the admission
      const claim = idemKey === undefined ? undefined : { key: idemKey, eventId: event.id, ttlMs: idempotencyTtlMs };
      let named: string | null | undefined;
      let notBefore = 0;
      let order: number | undefined;
      let queued: DispatchResult | undefined;
      if (admission) {
        const { softPerMin, hardPerMin } = admission.rate;
        try {
          let rate: RateDecision;
          if (inOneStep) {
            const step = await admitInOneStep(event, { key: record, ttlMs: ttl, fields }, admission, claim);
            ({ rate, order, queued } = step);
            if (claim !== undefined) named = step.named;
          } else {
            [rate, order] = await Promise.all([rateLimiter.hit(event.appId, softPerMin, hardPerMin, event.acceptedAt), ordering as Promise<number>]);
          }
          if (!rate.allowed) throw new RateRefused();
          notBefore = rate.notBefore;
        } catch (err) {
          // A step that failed in one script may still have run (its reply lost with the
          // connection), writing the record, queueing the event and claiming its key: then the
          // record stays, as for a node that dies there, and expires unless a resend under the
          // key finds it. Refused in one script, it left nothing. Refused or failed on a cluster
          // (where nothing is claimed or queued yet), it is forgotten.
          if (!inOneStep) {
            await writing.catch(() => {}); // the delete after the write's reply, retried or not
            await client.del(record);
          }
          throw err;
        }
      }
      await writing;
      if (claim !== undefined) {
        const first = await (named === undefined ? claimKey(claim) : settleClaim(claim, named));
        if (first !== 'ours') {
          await client.del(record);
          return { record: first, duplicate: true, notBefore: 0 };
        }
      }
      await durable?.();
      return {
        record: { ...event, queued: false, finished: false },
        duplicate: false,
        notBefore,
        ...(order !== undefined ? { order } : {}),
        ...(queued !== undefined ? { queued } : {}),
      };
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
      // Noted as not yet handed on with the finish: a node that dies right after finishing leaves
      // its final for another node to send (see overdueFinals). On one primary the finish's
      // script notes it. On a cluster the list sits on another slot, so the note goes first, and
      // a note this call added for an event it did not finish is taken back, or that event's
      // final, handed on already, would be sent again.
      const durable = finalDurable(eventId);
      if (runsInSendOrder(client)) {
        const flat = await run('finishEvent', [keys.event(eventId), keys.finalsPending], [finishedRetentionMs, final, now, eventId]);
        return finished(flat as FinishedFlat, final, durable);
      }
      const noted = await client.zadd(keys.finalsPending, 'NX', now, eventId);
      const flat = (await run('finishEvent', [keys.event(eventId)], [finishedRetentionMs, final, now])) as FinishedFlat;
      if (!flat && noted === 1) await client.zrem(keys.finalsPending, eventId);
      return finished(flat, final, durable);
    },
    ...(runsInSendOrder(client) && ending
      ? {
          async finishAndRemove(eventId: string, agentId: string, final: string, now: number) {
            const { expiries, streamRetentionMs } = ending;
            const durable = finalDurable(eventId);
            const [flat, raw] = (await run(
              'finishAndRemove',
              [...keys.agentQueue(agentId), keys.event(eventId), keys.finalsPending, expiries, keys.stream(agentId, eventId)],
              [eventId, now, DEFAULT_MAX_IDLE_SESSIONS, finishedRetentionMs, final, expiryMember(agentId, eventId), streamRetentionMs],
            )) as [FinishedFlat, RawRemoval];
            return { removed: removal(agentId, raw), finished: finished(flat, final, durable) };
          },
        }
      : {}),
    finalHandedOn: handedOn,
    async overdueFinals(before, now, limit) {
      return (await run('overdueFinals', [keys.finalsPending], [before, now, limit])) as string[];
    },
    async note(eventId, steps, retentionMs) {
      // Plain commands, sent together (one write), not a script: steps are among the
      // commonest writes of an event, and their expiry is set only as often as
      // expiry-refresh.ts says. Past the most steps, a step that is not a final is taken
      // out again by its own value, as if it had been left out (the memory store's rule), so
      // the cap costs a command only on a timeline that is already full.
      const key = keys.timeline(eventId);
      const texts = steps.map((step) => JSON.stringify(step));
      const now = Date.now();
      const expiry = expiries.expiryFor(key, retentionMs, now);
      // Counted as set once sent, not once answered: a step of a later turn sent before this
      // write's answer (an event's `first_token` right after its `delivered`) needs no PEXPIRE
      // of its own. A write that fails takes it back, so the next one sets it.
      if (expiry !== undefined) expiries.wasSet(key, retentionMs, now);
      let length: number;
      try {
        [length] = await Promise.all([client.rpush(key, ...texts), expiry !== undefined && client.pexpire(key, expiry)]);
      } catch (err) {
        if (expiry !== undefined) expiries.forget(key);
        throw err;
      }
      // An event's steps after its final (webhook tries) are few and may come from any node.
      if (steps.some((step) => step.kind === 'final')) expiries.forget(key);
      let kept = length - steps.length;
      const dropped: string[] = [];
      steps.forEach((step, i) => {
        if (kept >= TIMELINE_MAX_STEPS && step.kind !== 'final') dropped.push(texts[i] as string);
        else kept += 1;
      });
      for (const text of dropped) await client.lrem(key, -1, text);
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
    appConnId: f.appConn as string,
    queued: f.queued === '1',
    finished: f.finished === '1',
    ...(f.final !== undefined ? { final: f.final } : {}),
  };
}
