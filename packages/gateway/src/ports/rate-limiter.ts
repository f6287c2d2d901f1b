/** The rate window's length unless RELAY_RATE_WINDOW_MS says otherwise: limits are per minute. */
export const DEFAULT_RATE_WINDOW_MS = 60_000;

export type RateDecision = { allowed: false } | { allowed: true; notBefore: number };

/**
 * Per-app event rate, counted in fixed windows shared by every node. Up to `softPerMin` events a
 * window go at once; events beyond it, up to `hardPerMin`, are allowed but held (`notBefore`),
 * `softPerMin` of them per later window; beyond `hardPerMin` the event is refused. Held events
 * are released on top of a later window's own budget, so a burst is smoothed, not capped.
 *
 * The event store counts each new event as it records it (EventStore.append's `admission`), so
 * that a store can claim the event's idempotency key in the same step.
 */
export interface RateLimiter {
  hit(appId: string, softPerMin: number, hardPerMin: number, now: number): Promise<RateDecision>;
}

/** The decision for an event counted `count`-th in its window (-1: refused, over the hard limit). */
export function rateDecision(count: number, softPerMin: number, window: number, windowMs: number): RateDecision {
  if (count < 0) return { allowed: false };
  const windowsAhead = Math.floor((count - 1) / softPerMin);
  return { allowed: true, notBefore: windowsAhead === 0 ? 0 : (window + windowsAhead) * windowMs };
}

/** EventStore.append refused the event: its app is over its hard rate limit. */
export class RateRefused extends Error {
  constructor() {
    super('over the hard rate limit');
    this.name = 'RateRefused';
  }
}
