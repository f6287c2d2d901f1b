import { WEBHOOK_TRIES_KEPT, type WebhookLog, type WebhookTry } from '../../ports';

/** Each app's latest tries in this process; apps are few (configured), so the map stays small. */
export function createMemoryWebhookLog(): WebhookLog {
  const byApp = new Map<string, WebhookTry[]>();
  return {
    async add(appId, entry) {
      const list = byApp.get(appId) ?? [];
      list.unshift(entry);
      list.length = Math.min(list.length, WEBHOOK_TRIES_KEPT);
      byApp.set(appId, list);
    },
    async recent(appId) {
      return [...(byApp.get(appId) ?? [])];
    },
  };
}
