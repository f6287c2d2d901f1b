export type RateDecision = { allowed: false } | { allowed: true; notBefore: number };

/**
 * Per-app event rate, counted in fixed windows shared by every node. Up to `softPerMin` events a
 * window go at once; events beyond it, up to `hardPerMin`, are allowed but held (`notBefore`),
 * `softPerMin` of them per later window; beyond `hardPerMin` the event is refused. Held events
 * are released on top of a later window's own budget, so a burst is smoothed, not capped.
 */
export interface RateLimiter {
  hit(appId: string, softPerMin: number, hardPerMin: number, now: number): Promise<RateDecision>;
}
