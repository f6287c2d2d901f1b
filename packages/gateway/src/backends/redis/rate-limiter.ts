import { rateDecision, type RateLimiter } from '../../ports';
import type { Keys } from './keys';
import type { RunScript } from './scripts';

/** Where an event counted at `now` is counted: its window's number and counter. */
export interface RateWindow {
  window: number;
  counter: string;
  /** How long the counter is kept: past its window, for the events it holds to later ones. */
  counterTtlMs: number;
}

export interface RedisRateLimiter extends RateLimiter {
  windowAt(appId: string, now: number): RateWindow;
}

/** One counter per app per window in Redis, so every node counts against the same budget. */
export function createRedisRateLimiter(run: RunScript, keys: Keys, windowMs: number): RedisRateLimiter {
  const windowAt = (appId: string, now: number): RateWindow => {
    const window = Math.floor(now / windowMs);
    return { window, counter: keys.rate(appId, window), counterTtlMs: windowMs * 2 };
  };
  return {
    windowAt,
    async hit(appId, softPerMin, hardPerMin, now) {
      const { window, counter, counterTtlMs } = windowAt(appId, now);
      const [count] = (await run('admitEvent', [counter], [hardPerMin, counterTtlMs])) as [number];
      return rateDecision(count, softPerMin, window, windowMs);
    },
  };
}
