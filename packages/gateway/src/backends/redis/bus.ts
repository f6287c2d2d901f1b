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
export function createRedisBus(publisher: RedisClient, subscriber: RedisClient, keys: Keys, onError: (err: unknown) => void): Bus {
  const pending = new Map<string, BusMessage[]>();
  const inFlight = new Map<string, Promise<void>>();
  let scheduled = false;
  let undelivered: ((nodeId: string, message: BusMessage) => void) | undefined;
  let channel: string | undefined;
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
      // A new connection: a deaf subscriber is usually a dead TCP stream that still looks open.
      // And SSUBSCRIBE again ourselves (queued until the connection is up): ioredis renews only
      // the subscriptions whose reply it saw, so one whose reply a Redis restart cut off would be
      // lost for good, and the node deaf to the bus for the rest of its life.
      subscriber.disconnect(true);
      if (channel !== undefined) subscriber.ssubscribe(channel).catch(onError);
    },
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
      const mine = keys.busChannel(nodeId);
      channel = mine;
      subscriber.on('smessage', (from: string, raw: string) => {
        if (from !== mine) return;
        for (const message of JSON.parse(raw) as BusMessage[]) handler(message);
      });
      await subscriber.ssubscribe(mine);
    },
    async close() {
      // everything published before close goes out before the connection is quit
      while (pending.size > 0 || inFlight.size > 0) {
        flush();
        await Promise.all(inFlight.values());
      }
    },
  };
}
