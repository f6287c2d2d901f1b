import { rateDecision, type RateDecision, type RateLimiter } from '../../ports';
import type { Keys } from './keys';
import type { RunScript } from './scripts';

/** An idempotency key to claim for an event, if the event is counted (admitEvent-N.lua). */
export interface KeyClaim {
  key: string;
  eventId: string;
  ttlMs: number;
}

export interface RedisRateLimiter extends RateLimiter {
  /**
   * `hit`, and, if the event is counted, the claim of its idempotency key in the same step (both
   * keys are under the app's tag). `named`: the event id the key already named, or null when it
   * was free and now names `claim.eventId`.
   */
  hitAndClaim(appId: string, softPerMin: number, hardPerMin: number, now: number, claim: KeyClaim): Promise<RateDecision & { named?: string | null }>;
}

/** One counter per app per window in Redis, so every node counts against the same budget. */
export function createRedisRateLimiter(run: RunScript, keys: Keys, windowMs: number): RedisRateLimiter {
  const count = async (appId: string, softPerMin: number, hardPerMin: number, now: number, claim?: KeyClaim) => {
    const window = Math.floor(now / windowMs);
    const counter = keys.rate(appId, window);
    const [n, named] = (await run(
      'admitEvent',
      claim ? [counter, claim.key] : [counter],
      claim ? [hardPerMin, windowMs * 2, claim.eventId, claim.ttlMs] : [hardPerMin, windowMs * 2],
    )) as [number, string | null | undefined];
    return { decision: rateDecision(n, softPerMin, window, windowMs), named: named ?? null };
  };
  return {
    async hit(appId, softPerMin, hardPerMin, now) {
      return (await count(appId, softPerMin, hardPerMin, now)).decision;
    },
    async hitAndClaim(appId, softPerMin, hardPerMin, now, claim) {
      const { decision, named } = await count(appId, softPerMin, hardPerMin, now, claim);
      return decision.allowed ? { ...decision, named } : decision;
    },
  };
}
