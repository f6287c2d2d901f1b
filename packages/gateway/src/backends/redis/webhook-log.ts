import { WEBHOOK_TRIES_KEPT, WEBHOOK_TRIES_RETENTION_MS, type WebhookLog, type WebhookTry } from '../../ports';
import type { RedisClient } from './connect';
import type { Keys } from './keys';

/** One list per app (LPUSH, LTRIM to the newest, expiring after the retention): one key, so one slot. */
export function createRedisWebhookLog(client: RedisClient, keys: Keys): WebhookLog {
  return {
    async add(appId, entry) {
      const key = keys.webhookTries(appId);
      const results = await client
        .multi()
        .lpush(key, JSON.stringify(entry))
        .ltrim(key, 0, WEBHOOK_TRIES_KEPT - 1)
        .pexpire(key, WEBHOOK_TRIES_RETENTION_MS)
        .exec();
      const failed = results?.find(([err]) => err);
      if (failed) throw failed[0];
    },
    async recent(appId) {
      return (await client.lrange(keys.webhookTries(appId), 0, WEBHOOK_TRIES_KEPT - 1)).map((raw) => JSON.parse(raw) as WebhookTry);
    },
  };
}
