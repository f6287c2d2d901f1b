import type { Bus, BusMessage } from '../../ports';

/** One node, so every message is for this node; a message for another node has nowhere to go. */
export function createMemoryBus(): Bus {
  const handlers = new Map<string, (message: BusMessage) => void>();
  let undelivered: ((nodeId: string, message: BusMessage) => void) | undefined;
  return {
    publish(nodeId, message) {
      const handler = handlers.get(nodeId);
      if (handler) queueMicrotask(() => handler(message));
      else if (undelivered) queueMicrotask(() => undelivered?.(nodeId, message));
    },
    // In one process nothing can go deaf.
    resubscribe: async () => {},
    onUndelivered(handler) {
      undelivered = handler;
    },
    async subscribe(nodeId, handler) {
      handlers.set(nodeId, handler);
    },
    async close() {
      handlers.clear();
    },
  };
}
