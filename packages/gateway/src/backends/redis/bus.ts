import type { RedisClient } from './connect';
import type { Bus, BusMessage } from '../../ports';
import type { Keys } from './keys';
import { atTurnEnd } from '../../turn-end';
import { decodeBatch, encodeBatch, readsLines } from './bus-lines';

/**
 * One sharded pub/sub channel per node (SPUBLISH / SSUBSCRIBE, Redis 7): on a Redis Cluster a
 * frame costs only the shard of the node's channel, where classic PUBLISH reaches every shard;
 * on one primary it works the same. Messages for a node go out in the order they were
 * published, as JSON arrays: tokens rely on that order. A cluster client may send two commands
 * for one channel by different ways (one redirected by MOVED while the slots are learned or a
 * replica is promoted, the next straight), so there is one SPUBLISH per channel in flight at a
 * time; what is published meanwhile waits and goes as the next batch, which also makes batches
 * grow with the load. An SPUBLISH that no subscriber heard means the node is gone (a killed
 * process's connection is closed at once), so its messages go to the undelivered handler; so
 * do those of a batch whose SPUBLISH kept failing for about five seconds (tried again meanwhile).
 */
export interface RedisBus extends Bus {
  /** Whether the subscriber's connection is up: a node is not ready without it. */
  listening(): boolean;
}

/** How long a node whose liveness key could not be read (not yet written, or Redis failing) is sent JSON before the key is read again. */
const FRAMING_ASK_MS = 1_000;
/** How long a subscriber whose connection ended, or whose SSUBSCRIBE failed, waits before the next try; doubled each time. */
const RENEW_MS = { first: 100, max: 2_000 };
const SUBSCRIBE_TIMEOUT_MS = 2_000;
/** The waits before a batch whose SPUBLISH failed is sent again: about five seconds in all. */
const PUBLISH_RETRY_MS = [100, 200, 400, 800, 1_000, 1_000, 1_000];

/**
 * `openSubscriber` makes a subscriber's client for the channel: again for each resubscribe, and
 * again (after a backoff) when its connection ends or its SSUBSCRIBE fails, which is how a
 * subscriber on a Redis Cluster follows its slot to a promoted replica.
 *
 * A new subscriber is made before the old one is let go: the old one hears until the new one's
 * SSUBSCRIBE is confirmed, so a resubscribe leaves no moment in which the channel has no
 * subscriber (an SPUBLISH then reaches nobody, and its messages are taken for a dead node's).
 * A message sent in the overlap may be heard twice; every bus message can be (a redelivered
 * event, a token already written, a final already sent are each dropped by their receiver).
 * And a resubscribe ends only once the new subscription is confirmed: a probe sent before that
 * is lost, which made a node that once missed a probe resubscribe for ever.
 */
export function createRedisBus(
  publisher: RedisClient,
  openSubscriber: (channel: string) => RedisClient,
  keys: Keys,
  onError: (err: unknown) => void,
): RedisBus {
  let subscription: { channel: string; listener: (from: string, raw: string) => void } | undefined;
  /** The subscriber whose SSUBSCRIBE was confirmed last, and the one being made, if any. */
  let current: RedisClient | undefined;
  let making: RedisClient | undefined;
  let closed = false;
  let renewTimer: NodeJS.Timeout | undefined;
  let renewDelay = RENEW_MS.first;
  /** Made afresh, and resolves once subscribed or failed (a failure is tried again soon). */
  const subscribeAfresh = (): Promise<void> => {
    if (!subscription || closed) return Promise.resolve();
    const { channel, listener } = subscription;
    making?.disconnect();
    const made = openSubscriber(channel);
    making = made;
    made.on('smessage', listener);
    made.once('end', () => {
      if (made !== current) return;
      current = undefined;
      renewSoon();
    });
    // ioredis never settles an SSUBSCRIBE answered with MOVED (it only emits `moved`), and a
    // connection to a node that is down may hang: either is a failed try.
    const failed = new Promise<never>((_, reject) => {
      const timer = setTimeout(() => reject(new Error(`SSUBSCRIBE not confirmed within ${SUBSCRIBE_TIMEOUT_MS} ms`)), SUBSCRIBE_TIMEOUT_MS);
      timer.unref();
      made.once('moved', () => reject(new Error('SSUBSCRIBE answered MOVED: the slot is elsewhere')));
    });
    return Promise.race([made.ssubscribe(channel), failed]).then(
      () => {
        if (made !== making) return;
        making = undefined;
        const old = current;
        current = made;
        renewDelay = RENEW_MS.first;
        old?.disconnect();
      },
      (err: unknown) => {
        if (made !== making) return;
        making = undefined;
        made.disconnect();
        onError(err);
        renewSoon();
      },
    );
  };
  const renewSoon = () => {
    if (closed || renewTimer || making) return;
    renewTimer = setTimeout(() => {
      renewTimer = undefined;
      void subscribeAfresh();
    }, renewDelay);
    renewDelay = Math.min(renewDelay * 2, RENEW_MS.max);
  };
  /**
   * How each node reads its batches (bus-lines.ts): lines, JSON arrays, or not known yet (when
   * its liveness key was last asked for). Until a node is known to read lines it is sent JSON,
   * which every node reads. Its own node reads lines.
   */
  const framings = new Map<string, 'lines' | 'json' | number>();
  const framingOf = (nodeId: string): 'lines' | 'json' => {
    const known = framings.get(nodeId);
    if (typeof known === 'string') return known;
    const now = Date.now();
    if (known === undefined || now - known >= FRAMING_ASK_MS) {
      framings.set(nodeId, now);
      publisher.get(keys.nodeAlive(nodeId)).then(
        (value) => {
          if (value !== null && framings.get(nodeId) === now) framings.set(nodeId, readsLines(value) ? 'lines' : 'json');
        },
        () => {},
      );
    }
    return 'json';
  };
  const pending = new Map<string, BusMessage[]>();
  const inFlight = new Map<string, Promise<void>>();
  /** Failed tries in a row of the batch in flight to each node. */
  const failures = new Map<string, number>();
  let closing = false;
  let scheduled = false;
  let undelivered: ((nodeId: string, message: BusMessage) => void) | undefined;
  const send = (nodeId: string) => {
    const messages = pending.get(nodeId);
    if (!messages || inFlight.has(nodeId)) return;
    pending.delete(nodeId);
    const batch = framingOf(nodeId) === 'lines' ? encodeBatch(messages) : JSON.stringify(messages);
    const sent = publisher.spublish(keys.busChannel(nodeId), batch).then(
      (receivers) => {
        failures.delete(nodeId);
        if (receivers === 0) {
          framings.delete(nodeId);
          for (const message of messages) undelivered?.(nodeId, message);
        }
      },
      (err: unknown) => {
        onError(err);
        // Redis failing over or restarting: the batch goes again, ahead of anything later, and
        // only once Redis has stayed unwritable a while is it handed over as unheard.
        const failed = failures.get(nodeId) ?? 0;
        const wait = PUBLISH_RETRY_MS[failed];
        // Closing: what cannot go now is dropped. Handed over as unheard, it would be routed
        // again through this bus, which is failing, and close would never end.
        if (closing) return;
        if (wait === undefined) {
          failures.delete(nodeId);
          for (const message of messages) undelivered?.(nodeId, message);
          return;
        }
        failures.set(nodeId, failed + 1);
        pending.set(nodeId, [...messages, ...(pending.get(nodeId) ?? [])]);
        return new Promise<void>((resolve) => setTimeout(resolve, wait));
      },
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
      // renews only those it saw); or, on a Redis Cluster, one on a node that no longer serves
      // its slot (an SPUBLISH to the slot's primary reaches nobody). A fresh client subscribes
      // where the slot is now.
      await subscribeAfresh();
    },
    listening: () => current?.status === 'ready',
    publish(nodeId, message) {
      let list = pending.get(nodeId);
      if (!list) pending.set(nodeId, (list = []));
      list.push(message);
      if (!scheduled) {
        scheduled = true;
        atTurnEnd(flush);
      }
    },
    async subscribe(nodeId, handler) {
      const channel = keys.busChannel(nodeId);
      const listener = (from: string, raw: string) => {
        if (from !== channel) return;
        for (const message of decodeBatch(raw)) handler(message);
      };
      subscription = { channel, listener };
      framings.set(nodeId, 'lines');
      await subscribeAfresh();
    },
    async close() {
      // everything published before close goes out (or fails for good) before the connection is quit
      closing = true;
      while (pending.size > 0 || inFlight.size > 0) {
        flush();
        await Promise.all(inFlight.values());
      }
      closed = true;
      if (renewTimer) clearTimeout(renewTimer);
      making?.disconnect();
      await current?.quit().catch(() => {});
    },
  };
}
