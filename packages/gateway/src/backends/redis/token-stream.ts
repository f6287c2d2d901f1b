import type { RedisClient } from './connect';
import type { TokenStreamOptions, TokenStreams } from '../../ports';
import type { Keys } from './keys';
import { createExpiryRefresh } from './expiry-refresh';
import { atTurnEnd } from '../../turn-end';

type Write =
  | { kind: 'begin'; agentId: string; eventId: string; attempt: number }
  | { kind: 'token'; agentId: string; eventId: string; attempt: number; seq: number; token: string }
  | { kind: 'ended'; agentId: string; eventId: string };

/** How long a failed batch waits before it is written again. */
const RETRY_MS = 250;

/**
 * Streams in Redis, one hash per event under its agent's hash tag (keys.ts `stream`): every
 * attempt's tokens, and which attempt is current. Writes are batched per event-loop turn into
 * one round of commands sent together (like the bus), one batch at a time; every write is
 * idempotent (HSET, PEXPIRE), so a batch that failed part-way is simply written again, whole,
 * before any later one.
 *
 * A live stream's expiry is set only as often as expiry-refresh.ts says; an ended one's, to its
 * retention, always.
 */
export function createRedisTokenStreams(
  client: RedisClient,
  keys: Keys,
  options: TokenStreamOptions,
  /**
   * A first attempt is not written by `begin`: where the event's end names it (one primary,
   * lua/finishAndRemove-19.lua), a delivery costs no write of its own; until then its first
   * recorded token says it has begun.
   */
  firstAttemptAtEnd = false,
): TokenStreams & { close(): void } {
  const expiries = createExpiryRefresh(client);
  let queued: Write[] = [];
  let writing = false;
  let timer: NodeJS.Timeout | undefined;
  let scheduled = false;
  let closed = false;
  let enqueuedCount = 0;
  let writtenCount = 0;
  /** Writes handed to the client: those written, and the batch under way. */
  let sentCount = 0;
  /**
   * The last batch failed: writes are being retried. `flushed(true)` tries them again at once
   * instead of waiting for the retry timer, so a reply that comes right after the store is back
   * is not refused for an outage that is over; with the store still down that try fails fast.
   */
  let failing = false;
  /** `onceSent`: resolved once its writes are sent (`sent`), not written (`flushed`). */
  const waiters: Array<{ upTo: number; onceSent?: true; resolve: () => void; reject?: (err: Error) => void }> = [];
  const release = () => {
    for (let i = waiters.length - 1; i >= 0; i -= 1) {
      const waiter = waiters[i] as (typeof waiters)[number];
      if (waiter.upTo <= (waiter.onceSent ? sentCount : writtenCount)) {
        waiters.splice(i, 1);
        waiter.resolve();
      }
    }
  };
  const refused = () => new Error('token stream records could not be written; retrying');

  const schedule = (delayMs = 0) => {
    if (scheduled || writing || closed) return;
    scheduled = true;
    const go = () => {
      scheduled = false;
      timer = undefined;
      void flush();
    };
    if (delayMs === 0) atTurnEnd(go);
    else timer = setTimeout(go, delayMs);
  };
  /** Brings a pending retry forward; a write under way or about to start is already that try. */
  const retryNow = () => {
    if (!timer) return;
    clearTimeout(timer);
    timer = undefined;
    scheduled = false;
    schedule();
  };
  const push = (write: Write) => {
    queued.push(write);
    enqueuedCount += 1;
    schedule();
  };

  async function flush(): Promise<void> {
    if (queued.length === 0) return;
    writing = true;
    const batch = queued;
    queued = [];
    let ok = false;
    try {
      // At most one HSET and one PEXPIRE per stream and batch, however many tokens it holds: an
      // agent streaming fast fills a batch with many tokens of one event.
      const streams = new Map<string, { fields: string[]; ended: boolean; expiry?: number }>();
      for (const w of batch) {
        const key = keys.stream(w.agentId, w.eventId);
        let write = streams.get(key);
        if (!write) streams.set(key, (write = { fields: [], ended: false }));
        if (w.kind === 'begin') write.fields.push('a', String(w.attempt));
        else if (w.kind === 'token') write.fields.push(`${w.attempt}.${w.seq}`, w.token);
        write.ended = w.kind === 'ended';
      }
      const now = Date.now();
      // Commands, not one pipeline: on a Redis Cluster a pipeline must stay on one node, and
      // streams of several agents are on several. The client still sends each node's share
      // in one write (connect.ts batchWrites).
      const writes: Promise<unknown>[] = [];
      for (const [key, write] of streams) {
        if (write.fields.length > 0) writes.push(client.hset(key, ...write.fields));
        write.expiry = write.ended ? options.retentionMs : expiries.expiryFor(key, options.liveTtlMs, now);
        if (write.expiry !== undefined) writes.push(client.pexpire(key, write.expiry));
      }
      sentCount = writtenCount + batch.length;
      release();
      await Promise.all(writes);
      for (const [key, write] of streams) {
        if (write.ended) expiries.forget(key);
        else if (write.expiry !== undefined) expiries.wasSet(key, options.liveTtlMs, now);
      }
      ok = true;
    } catch {
      ok = false;
    }
    writing = false;
    failing = !ok;
    if (ok) {
      writtenCount += batch.length;
      release();
      if (queued.length > 0) schedule();
      return;
    }
    sentCount = writtenCount;
    queued = [...batch, ...queued];
    for (let i = waiters.length - 1; i >= 0; i -= 1) {
      const reject = waiters[i]?.reject;
      if (reject) {
        waiters.splice(i, 1);
        reject(refused());
      }
    }
    schedule(RETRY_MS);
  }

  return {
    begin(eventId, agentId, attempt) {
      if (attempt === 1 && firstAttemptAtEnd) return;
      push({ kind: 'begin', agentId, eventId, attempt });
    },
    append(eventId, agentId, attempt, seq, token) {
      push({ kind: 'token', agentId, eventId, attempt, seq, token });
    },
    ended(eventId, agentId) {
      push({ kind: 'ended', agentId, eventId });
    },
    flushed(failFast = false) {
      if (writtenCount >= enqueuedCount) return Promise.resolve();
      if (!failFast) return new Promise((resolve) => waiters.push({ upTo: enqueuedCount, resolve }));
      if (failing) retryNow();
      return new Promise((resolve, reject) => waiters.push({ upTo: enqueuedCount, resolve, reject }));
    },
    sent() {
      if (sentCount >= enqueuedCount) return Promise.resolve();
      if (failing) retryNow();
      return new Promise((resolve, reject) => waiters.push({ upTo: enqueuedCount, onceSent: true, resolve, reject }));
    },
    async attempt(eventId, agentId) {
      // Sent together: one round trip. Tokens without a named attempt are a first attempt's.
      const key = keys.stream(agentId, eventId);
      const [raw, first] = await Promise.all([client.hget(key, 'a'), client.hexists(key, '1.0')]);
      return raw !== null ? Number(raw) : first === 1 ? 1 : null;
    },
    async read(eventId, agentId, attempt, afterSeq) {
      const all = await client.hgetall(keys.stream(agentId, eventId));
      const out: string[] = [];
      // seqs are recorded with no gap (a prefix of the stream), so the first missing one ends it
      for (let seq = afterSeq + 1; `${attempt}.${seq}` in all; seq += 1) out.push(all[`${attempt}.${seq}`] as string);
      return out;
    },
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
    },
  };
}
