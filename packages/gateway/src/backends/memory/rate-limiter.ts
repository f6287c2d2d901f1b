import { rateDecision, type RateLimiter } from '../../ports';

/** One counter per app per window; events past the soft limit wait for the next window. */
export function createMemoryRateLimiter(windowMs: number): RateLimiter {
  const windows = new Map<string, { window: number; count: number }>();
  return {
    async hit(appId, softPerMin, hardPerMin, now) {
      const window = Math.floor(now / windowMs);
      let state = windows.get(appId);
      if (!state || state.window !== window) windows.set(appId, (state = { window, count: 0 }));
      if (state.count >= hardPerMin) return rateDecision(-1, softPerMin, window, windowMs);
      state.count += 1;
      return rateDecision(state.count, softPerMin, window, windowMs);
    },
  };
}
