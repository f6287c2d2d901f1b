import { OUTBOX_PIECE_BYTES, OUTBOX_PIECE_FRAMES, type HeldFinal, type Outbox, type OutboxDropReason } from '../../ports';

/**
 * Bounded per app: past `maxPerApp` the oldest held frame is dropped (and reported). Frames past
 * `heldUntil` are dropped when a take reaches them, and reported too: a final frame that never
 * reached its app must show up in the metrics and logs.
 */
export function createMemoryOutbox(
  maxPerApp: number,
  onDrop: (appId: string, eventId: string, reason: OutboxDropReason) => void,
): Outbox {
  const held = new Map<string, HeldFinal[]>();
  return {
    async put(appId, final) {
      let list = held.get(appId);
      if (!list) held.set(appId, (list = []));
      list.push(final);
      while (list.length > maxPerApp) onDrop(appId, (list.shift() as HeldFinal).eventId, 'full');
    },
    async take(appId, now) {
      const list = held.get(appId) ?? [];
      const live: HeldFinal[] = [];
      let bytes = 0;
      let taken = 0;
      while (taken < list.length && live.length < OUTBOX_PIECE_FRAMES && (live.length === 0 || bytes < OUTBOX_PIECE_BYTES)) {
        const f = list[taken++] as HeldFinal;
        if (f.heldUntil > now) {
          live.push(f);
          bytes += f.text.length;
        } else onDrop(appId, f.eventId, 'expired');
      }
      list.splice(0, taken);
      if (list.length === 0) held.delete(appId);
      return live;
    },
  };
}
