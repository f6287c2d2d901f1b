import type { RateLimiter } from '../../ports';

/** One counter per app per window; events past the soft limit wait for the next window. */
export function createMemoryRateLimiter(windowMs: number): RateLimiter {
  const windows = new Map<string, { window: number; count: number }>();
  return {
    async hit(appId, softPerMin, hardPerMin, now) {
      const window = Math.floor(now / windowMs);
      let state = windows.get(appId);
      if (!state || state.window !== window) windows.set(appId, (state = { window, count: 0 }));
      if (state.count >= hardPerMin) return { allowed: false };
      state.count += 1;
      const windowsAhead = Math.floor((state.count - 1) / softPerMin);
      return { allowed: true, notBefore: windowsAhead === 0 ? 0 : (window + windowsAhead) * windowMs };
    },
  };
}
