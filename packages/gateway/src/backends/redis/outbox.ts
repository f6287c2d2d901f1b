import type { HeldFinal, Outbox, OutboxDropReason } from '../../ports';
import type { Keys } from './keys';
import type { RunScript } from './scripts';

export function createRedisOutbox(
  run: RunScript,
  keys: Keys,
  maxPerApp: number,
  onDrop: (appId: string, eventId: string, reason: OutboxDropReason) => void,
): Outbox {
  return {
    async put(appId, final) {
      // The list outlives its entries, so the next connection sees (and counts) the expired ones.
      const ttl = Math.max(1, final.heldUntil - Date.now()) + 3_600_000;
      const dropped = (await run('putOutbox', [keys.outbox(appId)], [JSON.stringify(final), maxPerApp, ttl])) as string[];
      for (const raw of dropped) onDrop(appId, (JSON.parse(raw) as HeldFinal).eventId, 'full');
    },
    async take(appId, now) {
      const held = ((await run('takeOutbox', [keys.outbox(appId)], [])) as string[]).map((raw) => JSON.parse(raw) as HeldFinal);
      const live = held.filter((f) => f.heldUntil > now);
      for (const f of held) if (f.heldUntil <= now) onDrop(appId, f.eventId, 'expired');
      return live;
    },
  };
}
