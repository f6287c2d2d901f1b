import { CloseCode } from '@relay/protocol';
import { beatInterval, type RelayContext } from './context';
import { dispatched } from './delivery';
import { flushOutboxesHere, resendOverdueFinals } from './finals';

export interface Liveness {
  /** True once this node has proved itself alive at least once. */
  readonly alive: boolean;
  /** A probe this node sent to its own bus channel came back. */
  probeReturned(sentAt: number): void;
  stop(): void;
}

/**
 * Three beats per node TTL. Each beat:
 * - proves the node alive; a node that finds another node reaped it drops its sockets, so their
 *   clients reconnect and register again. A liveness that only lapsed (Redis was unreachable
 *   for everyone, so nobody reaped) keeps them: dropping every socket of every node after a
 *   short Redis outage would be a reconnect storm for nothing;
 * - sends a probe through the node's own bus channel: a subscriber can stay connected yet stop
 *   receiving (a known failure after a Redis failover), so a probe unanswered for two beats
 *   makes the node subscribe afresh;
 * - removes the connections of nodes that died and hands back what their agents held.
 */
export function startLiveness(ctx: RelayContext, ttlMs: number): Liveness {
  const { backend, log, metrics, nodeId } = ctx;
  const interval = beatInterval(ttlMs);
  let alive = false;
  let stopped = false;
  let probeOutstanding: number | undefined;
  let resubscribing = false;
  let lastBeat: number | undefined;
  /**
   * When this node could not beat on time, the others likely could not either (the same Redis
   * was away), and their keys lapsed just as its own did. Until they have had a full TTL to beat
   * again, a lapsed key is no proof of death, so this node reaps nobody.
   */
  let reapNotBefore = 0;
  /**
   * While this node's key had lapsed, the others (and this node itself) saw its connections as
   * gone, so finals for its apps went to their outboxes; yet its sockets stayed open, and an
   * outbox is otherwise only emptied when a connection opens. So the beats that follow a lapse
   * empty them into this node's app connections: two, for a final decided on the old view just
   * as the first landed. The same after this node's bus was deaf: another node whose final for
   * one of its apps reached no subscriber took it for gone and held the final in the outbox.
   */
  let flushesOwed = 0;
  const holdReaping = () => {
    reapNotBefore = Date.now() + ttlMs;
    flushesOwed = 2;
  };

  const beat = async () => {
    if (stopped) return;
    if (!backend.ready()) {
      if (lastBeat !== undefined) holdReaping();
      return;
    }
    const continued = await backend.presence.heartbeat(nodeId, ttlMs).catch((err: unknown) => {
      holdReaping();
      throw err;
    });
    const beatAt = Date.now();
    // Two beats' time missed is as late as a beat can be before keys start to lapse.
    if (lastBeat !== undefined && beatAt - lastBeat > ttlMs - interval) {
      log.warn({ since_last_beat_ms: beatAt - lastBeat }, 'liveness beat was late; reaping no node for one TTL');
      holdReaping();
    }
    lastBeat = beatAt;
    if (!continued) {
      log.warn('this node was reaped by another; dropping its sockets so clients re-register');
      for (const conn of [...ctx.local.values()]) conn.close(CloseCode.GOING_AWAY, 'Node lost its registration; reconnect');
    }
    alive = true;
    if (continued && flushesOwed > 0) {
      flushesOwed -= 1;
      await flushOutboxesHere(ctx);
    }

    const now = Date.now();
    if (probeOutstanding !== undefined && now - probeOutstanding > 2 * interval && !resubscribing) {
      log.warn({ waited_ms: now - probeOutstanding }, 'bus probe never came back; subscribing afresh');
      metrics.busResubscribes.inc();
      probeOutstanding = undefined;
      flushesOwed = 2;
      // The next probe waits for the new subscription: one sent before it is made is lost.
      resubscribing = true;
      await backend.bus.resubscribe().finally(() => (resubscribing = false));
    }
    if (probeOutstanding === undefined && !resubscribing) {
      probeOutstanding = now;
      backend.bus.publish(nodeId, { kind: 'probe', sentAt: now });
    }

    if (Date.now() >= reapNotBefore) {
      await backend.presence.reapDeadNodes(nodeId, async (info) => {
        if (info.role === 'agent') await dispatched(ctx, await backend.queue.detach(info.principalId, info.connId));
        log.info({ conn: info.connId, dead_node: info.nodeId, role: info.role }, 'connection of a dead node removed');
      });
    }
    // A node that finished an event and died before sending its final: by the time a node
    // would be given up for dead, the final is overdue.
    await resendOverdueFinals(ctx, ttlMs);
  };

  const steady = setInterval(() => ctx.track('liveness', beat()), interval);
  // Until the first beat lands (Redis may still be connecting), try often: readiness waits on it.
  const first = setInterval(() => {
    if (alive || stopped) clearInterval(first);
    else ctx.track('liveness', beat());
  }, 100);
  ctx.track('liveness', beat());

  return {
    get alive() {
      return alive;
    },
    probeReturned(sentAt) {
      if (probeOutstanding !== sentAt) return;
      probeOutstanding = undefined;
      metrics.busRoundtrip.observe((Date.now() - sentAt) / 1000);
    },
    stop() {
      stopped = true;
      clearInterval(steady);
      clearInterval(first);
    },
  };
}
