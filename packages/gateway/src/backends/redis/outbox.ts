import { OUTBOX_PIECE_BYTES, OUTBOX_PIECE_FRAMES, type HeldFinal, type Outbox, type OutboxDropReason } from '../../ports';
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
      // a piece of expired frames only is dropped, and the next one taken
      for (;;) {
        const raw = (await run('takeOutbox', [keys.outbox(appId)], [OUTBOX_PIECE_BYTES, OUTBOX_PIECE_FRAMES])) as string[];
        if (raw.length === 0) return [];
        const held = raw.map((text) => JSON.parse(text) as HeldFinal);
        for (const f of held) if (f.heldUntil <= now) onDrop(appId, f.eventId, 'expired');
        const live = held.filter((f) => f.heldUntil > now);
        if (live.length > 0) return live;
      }
    },
  };
}
