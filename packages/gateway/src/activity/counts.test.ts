import { bucketOf, field, isAnswered, LATENCY_BOUNDS_MS, parseField, quantile } from './counts';

const histogram = (entries: [number, number][]) => {
  const counts = new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0);
  for (const [ms, n] of entries) counts[bucketOf(ms)] = (counts[bucketOf(ms)] ?? 0) + n;
  return counts;
};

test('a latency falls in the first bucket whose bound it does not pass; past the last, in the overflow', () => {
  expect(bucketOf(0)).toBe(0);
  expect(bucketOf(5)).toBe(0);
  expect(bucketOf(6)).toBe(1);
  expect(bucketOf(3_600_000)).toBe(LATENCY_BOUNDS_MS.length - 1);
  expect(bucketOf(3_600_001)).toBe(LATENCY_BOUNDS_MS.length);
});

test('quantiles interpolate inside their bucket, and say nothing without observations', () => {
  expect(quantile(histogram([]), 0.5)).toBeNull();
  // 10 observations between 50 and 100 ms: the median is halfway through that bucket.
  expect(quantile(histogram([[80, 10]]), 0.5)).toBe(75);
  // 90 fast, 10 slow: p50 is among the fast ones, p95 among the slow ones.
  const mixed = histogram([[3, 90], [2_000, 10]]);
  expect(quantile(mixed, 0.5)).toBeLessThanOrEqual(5);
  const p95 = quantile(mixed, 0.95) as number;
  expect(p95).toBeGreaterThan(1_000);
  expect(p95).toBeLessThanOrEqual(2_500);
  expect(quantile(histogram([[5_000_000, 1]]), 0.5)).toBe(3_600_000);
});

test('counter names read back as what was counted', () => {
  expect(parseField(field.accepted('athena', 'portal'))).toEqual({ kind: 'accepted', agentId: 'athena', detail: 'portal' });
  expect(parseField(field.ended('athena', 'AGENT_TIMEOUT'))).toEqual({ kind: 'ended', agentId: 'athena', detail: 'AGENT_TIMEOUT' });
  expect(parseField(field.latency('ttft', 'klyve', 120))).toEqual({ kind: 'ttft', agentId: 'klyve', detail: String(bucketOf(120)) });
  expect(parseField('something|else')).toBeNull();
  expect(parseField('tokens')).toBeNull();
});

test('an answer is a reply the agent did not mark as an error', () => {
  expect(isAnswered('reply_stop')).toBe(true);
  expect(isAnswered('reply_length')).toBe(true);
  expect(isAnswered('reply_error')).toBe(false);
  expect(isAnswered('AGENT_TIMEOUT')).toBe(false);
});
