import type { RateDecision, RateLimiter } from '../../packages/gateway/src/ports';

export interface RateLimiterUnderTest {
  limiter: RateLimiter;
  /** The window it was made with. */
  windowMs: number;
  /** Another node's limiter on the same backend, for a backend that several nodes share. */
  peer?: () => RateLimiter;
  teardown(): Promise<void>;
}

/**
 * RateLimiter (ports/rate-limiter.ts): fixed windows; `soft` events a window go at once, the next
 * ones up to `hard` are held for later windows, `soft` per window, and the rest are refused.
 * Time is the caller's `now`, so no test waits for a window to pass.
 */
export function rateLimiterContract(name: string, create: () => Promise<RateLimiterUnderTest>) {
  describe(`RateLimiter contract (${name})`, () => {
    let under: RateLimiterUnderTest;
    let windowMs: number;
    /** A moment inside a window, far from the wall clock: the limiter must go by `now` alone. */
    let start: number;
    beforeEach(async () => {
      under = await create();
      windowMs = under.windowMs;
      start = 1_000 * windowMs + 5;
    });
    afterEach(async () => under.teardown());

    const hits = async (limiter: RateLimiter, app: string, n: number, soft: number, hard: number, now: number) => {
      const out: RateDecision[] = [];
      for (let i = 0; i < n; i++) out.push(await limiter.hit(app, soft, hard, now));
      return out;
    };
    const windowStart = (w: number) => w * windowMs;

    test('soft events a window go at once; the next ones are held soft per later window; past hard, refused', async () => {
      const decisions = await hits(under.limiter, 'portal', 8, 2, 7, start);
      expect(decisions).toEqual([
        { allowed: true, notBefore: 0 },
        { allowed: true, notBefore: 0 },
        { allowed: true, notBefore: windowStart(1_001) },
        { allowed: true, notBefore: windowStart(1_001) },
        { allowed: true, notBefore: windowStart(1_002) },
        { allowed: true, notBefore: windowStart(1_002) },
        { allowed: true, notBefore: windowStart(1_003) },
        { allowed: false },
      ]);
    });

    test("a new window has its own budget, on top of what was held for it; refused events used none", async () => {
      await hits(under.limiter, 'portal', 6, 2, 4, start);
      // the last ms of the window still counts in it
      expect(await under.limiter.hit('portal', 2, 4, windowStart(1_001) - 1)).toEqual({ allowed: false });
      const next = await hits(under.limiter, 'portal', 5, 2, 4, windowStart(1_001));
      expect(next).toEqual([
        { allowed: true, notBefore: 0 },
        { allowed: true, notBefore: 0 },
        { allowed: true, notBefore: windowStart(1_002) },
        { allowed: true, notBefore: windowStart(1_002) },
        { allowed: false },
      ]);
    });

    test("each app has its own budget", async () => {
      expect(await hits(under.limiter, 'portal', 2, 1, 1, start)).toEqual([{ allowed: true, notBefore: 0 }, { allowed: false }]);
      expect(await under.limiter.hit('academy', 1, 1, start)).toEqual({ allowed: true, notBefore: 0 });
    });

    test('hits racing for the last places: exactly hard are allowed, soft of them at once', async () => {
      const views = [under.limiter, ...(under.peer ? [under.peer(), under.peer()] : [])];
      const decisions = await Promise.all(Array.from({ length: 30 }, (_, i) => views[i % views.length]!.hit('portal', 4, 10, start)));
      expect(decisions.filter((d) => d.allowed)).toHaveLength(10);
      expect(decisions.filter((d) => d.allowed && d.notBefore === 0)).toHaveLength(4);
    });

    test('every node counts against the same budget', async () => {
      const views = [under.limiter, ...(under.peer ? [under.peer(), under.peer()] : [])];
      const decisions: RateDecision[] = [];
      for (let i = 0; i < 4; i++) decisions.push(await views[i % views.length]!.hit('portal', 1, 3, start));
      expect(decisions).toEqual([
        { allowed: true, notBefore: 0 },
        { allowed: true, notBefore: windowStart(1_001) },
        { allowed: true, notBefore: windowStart(1_002) },
        { allowed: false },
      ]);
    });
  });
}
