import type { HeldFinal, Outbox } from '../../ports';

/** Bounded per app: past `maxPerApp` the oldest held frame is dropped (and reported). */
export function createMemoryOutbox(maxPerApp: number, onDrop: (appId: string, eventId: string) => void): Outbox {
  const held = new Map<string, HeldFinal[]>();
  return {
    async put(appId, final) {
      let list = held.get(appId);
      if (!list) held.set(appId, (list = []));
      list.push(final);
      while (list.length > maxPerApp) onDrop(appId, (list.shift() as HeldFinal).eventId);
    },
    async take(appId, now) {
      const list = held.get(appId) ?? [];
      held.delete(appId);
      return list.filter((f) => f.heldUntil > now);
    },
  };
}
