import { backoffDelay, DEFAULT_BACKOFF } from './backoff';

describe('backoffDelay', () => {
  test('the default schedule is 2 s, 4 s, 8 s … capped at 60 s (no jitter at random() = 0.5)', () => {
    const delays = [0, 1, 2, 3, 4, 5, 6, 10].map((n) => backoffDelay(n, DEFAULT_BACKOFF, () => 0.5));
    expect(delays).toEqual([2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]);
  });

  test('jitter spreads each delay by ±20 %, and never past the cap', () => {
    expect(backoffDelay(0, DEFAULT_BACKOFF, () => 0)).toBe(1_600);
    expect(backoffDelay(0, DEFAULT_BACKOFF, () => 0.999_999)).toBe(2_400);
    expect(backoffDelay(20, DEFAULT_BACKOFF, () => 0.999_999)).toBe(60_000);
    expect(backoffDelay(20, DEFAULT_BACKOFF, () => 0)).toBe(48_000);
  });
});
