import { webhookDelay } from './webhooks';

describe('webhookDelay', () => {
  test('doubles from 1 s after each failed try, capped at 10 min, also for absurd attempt counts', () => {
    expect([1, 2, 3, 4, 5].map(webhookDelay)).toEqual([1_000, 2_000, 4_000, 8_000, 16_000]);
    expect(webhookDelay(10)).toBe(512_000);
    expect(webhookDelay(11)).toBe(600_000);
    expect(webhookDelay(10_000)).toBe(600_000);
  });
});
