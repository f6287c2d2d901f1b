import type { RateLimiter } from '../../ports';
import type { Keys } from './keys';
import type { RunScript } from './scripts';

/** One counter per app per window in Redis, so every node counts against the same budget. */
export function createRedisRateLimiter(run: RunScript, keys: Keys, windowMs: number): RateLimiter {
  return {
    async hit(appId, softPerMin, hardPerMin, now) {
      const window = Math.floor(now / windowMs);
      const count = Number(await run('hitRate', [keys.rate(appId, window)], [hardPerMin, windowMs * 2]));
      if (count < 0) return { allowed: false };
      const windowsAhead = Math.floor((count - 1) / softPerMin);
      return { allowed: true, notBefore: windowsAhead === 0 ? 0 : (window + windowsAhead) * windowMs };
    },
  };
}
