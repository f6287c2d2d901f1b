/** How long to wait between reconnection attempts. */
export interface BackoffOptions {
  /** Delay before the first retry, in ms (default 2000: then 4 s, 8 s, …). */
  initialMs?: number;
  /** Cap on any delay, in ms (default 60000). */
  maxMs?: number;
  /** Growth per failed attempt (default 2). */
  factor?: number;
  /**
   * Spread, as a fraction of the delay (default 0.2: ±20 %), so that many clients dropped at once
   * by a node that goes away do not all come back at the same instant.
   */
  jitter?: number;
  /**
   * A connection that stayed open this long (ms, default 10000) counts as healthy: the next drop
   * starts again at `initialMs`. One that drops sooner keeps growing the delay, so a relay that
   * accepts and at once closes (1013 overloaded) is not hammered.
   */
  resetAfterMs?: number;
}

export const DEFAULT_BACKOFF: Required<BackoffOptions> = {
  initialMs: 2_000,
  maxMs: 60_000,
  factor: 2,
  jitter: 0.2,
  resetAfterMs: 10_000,
};

/**
 * The delay before retry number `failures` (0 for the first retry): `initialMs·factor^failures`
 * capped at `maxMs`, spread by ±`jitter`, never above `maxMs`. `random` returns [0, 1).
 */
export function backoffDelay(failures: number, options: Required<BackoffOptions>, random: () => number): number {
  const base = Math.min(options.initialMs * options.factor ** failures, options.maxMs);
  const spread = 1 + options.jitter * (2 * random() - 1);
  return Math.max(0, Math.min(Math.round(base * spread), options.maxMs));
}
