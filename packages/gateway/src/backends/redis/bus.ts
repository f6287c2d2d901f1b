import type { Redis } from 'ioredis';
import type { Bus, BusMessage } from '../../ports';
import type { Keys } from './keys';

/**
 * One pub/sub channel per node. Messages for the same node within one event-loop turn go out
 * as one PUBLISH (a JSON array), in the order they were published: tokens rely on that order.
 * A PUBLISH that no subscriber heard means the node is gone (a killed process's connection is
 * closed at once), so its messages go to the undelivered handler.
 */
export function createRedisBus(publisher: Redis, subscriber: Redis, keys: Keys, onError: (err: unknown) => void): Bus {
  let pending = new Map<string, BusMessage[]>();
  let flushing = false;
  let undelivered: ((nodeId: string, message: BusMessage) => void) | undefined;
  const flush = () => {
    flushing = false;
    const batch = pending;
    pending = new Map();
    for (const [nodeId, messages] of batch) {
      publisher.publish(keys.busChannel(nodeId), JSON.stringify(messages)).then((receivers) => {
        if (receivers === 0) for (const message of messages) undelivered?.(nodeId, message);
      }, onError);
    }
  };
  return {
    onUndelivered(handler) {
      undelivered = handler;
    },
    async resubscribe() {
      // A new connection, not just SUBSCRIBE again: a deaf subscriber is usually a dead TCP
      // stream that still looks open. ioredis subscribes the new one to the same channels.
      subscriber.disconnect(true);
    },
    async publish(nodeId, message) {
      let list = pending.get(nodeId);
      if (!list) pending.set(nodeId, (list = []));
      list.push(message);
      if (!flushing) {
        flushing = true;
        setImmediate(flush);
      }
    },
    async subscribe(nodeId, handler) {
      const channel = keys.busChannel(nodeId);
      subscriber.on('message', (from: string, raw: string) => {
        if (from !== channel) return;
        for (const message of JSON.parse(raw) as BusMessage[]) handler(message);
      });
      await subscriber.subscribe(channel);
    },
    async close() {
      if (pending.size > 0) flush();
    },
  };
}
