// How activity is counted: the names of the per-minute counters every node adds to, and the
// latency histogram they hold. Written by the recorder, read by the admin overview: one place.

/** Upper bounds of the latency buckets, ms (as the Prometheus histograms, from 5 ms to an hour). */
export const LATENCY_BOUNDS_MS = [5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000, 900_000, 3_600_000];

export type Latency = 'ttft' | 'reply';

/** Counter names: `kind|agent[|detail]`. Ids are `[a-z0-9_-]` and outcomes codes, so `|` never occurs in them. */
export const field = {
  accepted: (agentId: string, appId: string) => `accepted|${agentId}|${appId}`,
  delivered: (agentId: string) => `delivered|${agentId}`,
  ended: (agentId: string, outcome: string) => `ended|${agentId}|${outcome}`,
  tokens: (agentId: string) => `tokens|${agentId}`,
  latency: (which: Latency, agentId: string, ms: number) => `${which}|${agentId}|${bucketOf(ms)}`,
};

export interface ParsedField {
  kind: 'accepted' | 'delivered' | 'ended' | 'tokens' | Latency;
  agentId: string;
  /** The app (accepted), the outcome (ended) or the bucket index (latencies). */
  detail: string | undefined;
}

export function parseField(name: string): ParsedField | null {
  const [kind, agentId, detail] = name.split('|');
  if (!kind || !agentId || !['accepted', 'delivered', 'ended', 'tokens', 'ttft', 'reply'].includes(kind)) return null;
  return { kind: kind as ParsedField['kind'], agentId, detail };
}

/** An outcome the agent chose to end with a reply; `reply_error` is the agent reporting a failure. */
export function isAnswered(outcome: string): boolean {
  return outcome.startsWith('reply_') && outcome !== 'reply_error';
}

export function bucketOf(ms: number): number {
  const i = LATENCY_BOUNDS_MS.findIndex((bound) => ms <= bound);
  return i === -1 ? LATENCY_BOUNDS_MS.length : i;
}

/**
 * The q-quantile (0..1) of a histogram (count per bucket index), interpolated inside its bucket
 * as Prometheus's histogram_quantile does; null with no observations. Past the last bound it
 * answers the last bound: "an hour or more".
 */
export function quantile(counts: number[], q: number): number | null {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    const n = counts[i] ?? 0;
    if (n > 0 && seen + n >= rank) {
      if (i >= LATENCY_BOUNDS_MS.length) return LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.length - 1] as number;
      const lower = i === 0 ? 0 : (LATENCY_BOUNDS_MS[i - 1] as number);
      const upper = LATENCY_BOUNDS_MS[i] as number;
      return Math.round(lower + ((upper - lower) * (rank - seen)) / n);
    }
    seen += n;
  }
  return LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.length - 1] as number;
}

export const MINUTE_MS = 60_000;
export const minuteOf = (ms: number): number => ms - (ms % MINUTE_MS);
