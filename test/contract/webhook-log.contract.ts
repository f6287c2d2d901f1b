import { WEBHOOK_TRIES_KEPT, type WebhookLog, type WebhookTry } from '../../packages/gateway/src/ports';

const attempt = (appId: string, n: number): WebhookTry => ({
  at: 1_000 + n,
  eventId: `evt_${appId}_${n}`,
  attempt: 1,
  outcome: n % 2 === 0 ? 'delivered' : 'failed',
  ...(n % 2 === 0 ? { status: 200 } : { error: 'timeout' }),
  durationMs: n,
  node: 'n1',
});

/**
 * The WebhookLog contract (ports/webhook-log.ts), runnable against any backend: each app's tries
 * come back newest first, whole, kept apart from other apps', and bounded at WEBHOOK_TRIES_KEPT.
 */
export function webhookLogContract(name: string, create: () => Promise<WebhookLog>) {
  describe(`WebhookLog contract (${name})`, () => {
    test('newest first, every field as written, per app', async () => {
      const log = await create();
      for (let n = 0; n < 3; n++) await log.add('portal', attempt('portal', n));
      await log.add('flow', attempt('flow', 9));
      expect(await log.recent('portal')).toEqual([attempt('portal', 2), attempt('portal', 1), attempt('portal', 0)]);
      expect(await log.recent('flow')).toEqual([attempt('flow', 9)]);
      expect(await log.recent('academy')).toEqual([]);
    });

    test(`keeps only the newest ${WEBHOOK_TRIES_KEPT} of an app`, async () => {
      const log = await create();
      for (let n = 0; n < WEBHOOK_TRIES_KEPT + 5; n++) await log.add('portal', attempt('portal', n));
      const kept = await log.recent('portal');
      expect(kept).toHaveLength(WEBHOOK_TRIES_KEPT);
      expect(kept[0]).toEqual(attempt('portal', WEBHOOK_TRIES_KEPT + 4));
      expect(kept.at(-1)).toEqual(attempt('portal', 5));
    });
  });
}
