export type RateDecision = { allowed: false } | { allowed: true; notBefore: number };

/**
 * Per-app event rate, counted in one-minute windows shared by every node. Up to `softPerMin`
 * events a minute go at once; events beyond it, up to `hardPerMin`, are allowed but held until a
 * later minute has room (`notBefore`), so delivery never exceeds the soft rate; beyond
 * `hardPerMin` the event is refused.
 */
export interface RateLimiter {
  hit(appId: string, softPerMin: number, hardPerMin: number, now: number): Promise<RateDecision>;
}
