import type { RedisClient } from './connect';
import type { Bus, BusMessage } from '../../ports';
import type { Keys } from './keys';

/**
 * One sharded pub/sub channel per node (SPUBLISH / SSUBSCRIBE, Redis 7): on a Redis Cluster a
 * frame costs only the shard of the node's channel, where classic PUBLISH reaches every shard;
 * on one primary it works the same. Messages for the same node within one event-loop turn go out
 * as one SPUBLISH (a JSON array), in the order they were published: tokens rely on that order.
 * An SPUBLISH that no subscriber heard means the node is gone (a killed process's connection is
 * closed at once), so its messages go to the undelivered handler.
 */
export function createRedisBus(publisher: RedisClient, subscriber: RedisClient, keys: Keys, onError: (err: unknown) => void): Bus {
  let pending = new Map<string, BusMessage[]>();
  let flushing = false;
  let undelivered: ((nodeId: string, message: BusMessage) => void) | undefined;
  const flush = () => {
    flushing = false;
    const batch = pending;
    pending = new Map();
    for (const [nodeId, messages] of batch) {
      publisher.spublish(keys.busChannel(nodeId), JSON.stringify(messages)).then((receivers) => {
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
      subscriber.on('smessage', (from: string, raw: string) => {
        if (from !== channel) return;
        for (const message of JSON.parse(raw) as BusMessage[]) handler(message);
      });
      await subscriber.ssubscribe(channel);
    },
    async close() {
      if (pending.size > 0) flush();
    },
  };
}
