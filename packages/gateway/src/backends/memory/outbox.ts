import type { HeldFinal, Outbox, OutboxDropReason } from '../../ports';


/**
 * Bounded per app: past `maxPerApp` the oldest held frame is dropped (and reported). Frames past
 * `heldUntil` are dropped when the app's next connection takes the rest, and reported too: a
 * final frame that never reached its app must show up in the metrics and logs.
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
      held.delete(appId);
      const live: HeldFinal[] = [];
      for (const f of list) {
        if (f.heldUntil > now) live.push(f);
        else onDrop(appId, f.eventId, 'expired');
      }
      return live;
    },
  };
}
