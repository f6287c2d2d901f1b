import { onEachConnect, type RedisClient } from './connect';

/** The longest a key's expiry goes without being set again by the node writing it. */
const MAX_REFRESH_MS = 10_000;

/**
 * For keys whose expiry counts from their latest write (a live token stream, an event's
 * timeline): which writes must set it again. Setting it with every write cost a PEXPIRE beside
 * nearly every write, as a turn seldom holds more than one write of such a key. A node sets it
 * when it first writes the key, and again once the refresh interval has passed (a quarter of
 * the TTL, at most ten seconds), for the TTL plus that interval: so the key still goes no sooner
 * than its TTL after its latest write, and at most the interval later.
 *
 * A Redis that lost its data (a restart without persistence) lost the expiries with it, so
 * whenever a connection is made again every key's expiry is set again on its next write.
 */
export function createExpiryRefresh(client: RedisClient) {
  /** When each key's expiry, as this node last set it, is due to be set again. */
  const dueAt = new Map<string, number>();
  let prunedAt = Date.now();
  onEachConnect(client, () => dueAt.clear());
  const refreshOf = (ttlMs: number) => Math.min(MAX_REFRESH_MS, Math.floor(ttlMs / 4));
  return {
    /** The expiry to set with a write of `key` at `now`, if it needs one. */
    expiryFor(key: string, ttlMs: number, now: number): number | undefined {
      return now >= (dueAt.get(key) ?? -Infinity) ? ttlMs + refreshOf(ttlMs) : undefined;
    },
    /**
     * A write sent at `now` sets the key's expiry. Noted once it succeeded, or once sent by a
     * caller that calls `forget` should it fail: either way a failed one is sent again.
     */
    wasSet(key: string, ttlMs: number, now: number): void {
      dueAt.set(key, now + refreshOf(ttlMs));
      if (now - prunedAt < MAX_REFRESH_MS) return;
      prunedAt = now;
      for (const [k, due] of dueAt) if (due <= now) dueAt.delete(k);
    },
    /** The key's expiry is no longer this node's to keep (a stream that ended, a finished timeline, a failed write). */
    forget(key: string): void {
      dueAt.delete(key);
    },
  };
}
