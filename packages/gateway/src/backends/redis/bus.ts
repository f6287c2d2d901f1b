import type { RedisClient } from './connect';
import type { Bus, BusMessage } from '../../ports';
import type { Keys } from './keys';

/**
 * One sharded pub/sub channel per node (SPUBLISH / SSUBSCRIBE, Redis 7): on a Redis Cluster a
 * frame costs only the shard of the node's channel, where classic PUBLISH reaches every shard;
 * on one primary it works the same. Messages for a node go out in the order they were
 * published, as JSON arrays: tokens rely on that order. A cluster client may send two commands
 * for one channel by different ways (one redirected by MOVED while the slots are learned or a
 * replica is promoted, the next straight), so there is one SPUBLISH per channel in flight at a
 * time; what is published meanwhile waits and goes as the next batch, which also makes batches
 * grow with the load. An SPUBLISH that no subscriber heard means the node is gone (a killed
 * process's connection is closed at once), so its messages go to the undelivered handler.
 */
export interface RedisBus extends Bus {
  /** Whether the subscriber's connection is up: a node is not ready without it. */
  listening(): boolean;
}

/** `openSubscriber` makes the subscriber's client: again for each resubscribe. */
export function createRedisBus(
  publisher: RedisClient,
  openSubscriber: () => RedisClient,
  keys: Keys,
  onError: (err: unknown) => void,
): RedisBus {
  let subscriber = openSubscriber();
  let subscription: { channel: string; listener: (from: string, raw: string) => void } | undefined;
  const pending = new Map<string, BusMessage[]>();
  const inFlight = new Map<string, Promise<void>>();
  let scheduled = false;
  let undelivered: ((nodeId: string, message: BusMessage) => void) | undefined;
  const send = (nodeId: string) => {
    const messages = pending.get(nodeId);
    if (!messages || inFlight.has(nodeId)) return;
    pending.delete(nodeId);
    const sent = publisher.spublish(keys.busChannel(nodeId), JSON.stringify(messages)).then(
      (receivers) => {
        if (receivers === 0) for (const message of messages) undelivered?.(nodeId, message);
      },
      onError,
    );
    inFlight.set(
      nodeId,
      sent.finally(() => {
        inFlight.delete(nodeId);
        send(nodeId);
      }),
    );
  };
  const flush = () => {
    scheduled = false;
    for (const nodeId of [...pending.keys()]) send(nodeId);
  };
  return {
    onUndelivered(handler) {
      undelivered = handler;
    },
    async resubscribe() {
      // A new client, not the old one reconnected. A deaf subscriber may be a dead TCP stream
      // that still looks open; or a subscription whose reply a Redis restart cut off (ioredis
      // renews only those it saw); or, on a Redis Cluster, a sharded subscriber left on a node
      // that is no longer its slot's primary (an SPUBLISH there reaches nobody). A fresh client
      // learns the slots anew and subscribes where they are now.
      const old = subscriber;
      subscriber = openSubscriber();
      if (subscription) {
        subscriber.on('smessage', subscription.listener);
        subscriber.ssubscribe(subscription.channel).catch(onError);
      }
      old.disconnect();
    },
    listening: () => subscriber.status === 'ready',
    async publish(nodeId, message) {
      let list = pending.get(nodeId);
      if (!list) pending.set(nodeId, (list = []));
      list.push(message);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    async subscribe(nodeId, handler) {
      const channel = keys.busChannel(nodeId);
      const listener = (from: string, raw: string) => {
        if (from !== channel) return;
        for (const message of JSON.parse(raw) as BusMessage[]) handler(message);
      };
      subscription = { channel, listener };
      subscriber.on('smessage', listener);
      await subscriber.ssubscribe(channel);
    },
    async close() {
      // everything published before close goes out before the connection is quit
      while (pending.size > 0 || inFlight.size > 0) {
        flush();
        await Promise.all(inFlight.values());
      }
      await subscriber.quit().catch(() => {});
    },
  };
}
