import { CloseCode, type Role } from '@relay/protocol';
import type { Connection, UnflushedFinal } from './connection';
import type { FinalForApp } from './send-to';
import type { RelayContext } from './context';
import { dispatched } from './delivery';
import { flushOutbox, leftOfPiece, rerouteAll } from './finals';
import { agentQueueBudget, type FrameQueue } from './frame-queue';
import type { Kicks } from './kick';
import { forgetInFlight } from './lifecycle';
import type { Liveness } from './liveness';
import type { Admission, Relay } from './relay';

/** The parts of a node a socket's life touches besides the context. */
export interface SessionParts {
  queue: FrameQueue;
  kicks: Kicks;
  liveness: Liveness;
}

/** A socket's life on this node: admission at the upgrade, open, close, and the node's drain. */
export function createSessions(
  ctx: RelayContext,
  parts: SessionParts,
): Omit<Relay, 'received' | 'request' | 'eventStatus' | 'agentPosted'> {
  const { backend, log, metrics, nodeId } = ctx;
  const { queue, kicks, liveness } = parts;
  let draining = false;

  const ready = () => !draining && liveness.alive && backend.ready();

  const connectionLimit = async (role: Role, id: string): Promise<number> => {
    if (role === 'app') return (await backend.registry.app(id))?.maxConnections ?? 0;
    const agent = await backend.registry.agent(id);
    // An agent's HTTP connection (http-agents/) holds a place of its own, beside its sockets'.
    return (agent?.maxConnections ?? 0) + (agent?.webhookUrl ? 1 : 0);
  };

  /** An agent connection is gone: its unanswered events go back to the queue and on from there. */
  const detach = async (agentId: string, connId: string) => {
    const result = await backend.queue.detach(agentId, connId);
    if (result.assigned.length > 0) log.info({ agent_id: agentId, events: result.assigned.length }, 'events handed back for redelivery');
    // Not part of the step: once detached, a retry of it would find nothing to hand on.
    ctx.track('close', dispatched(ctx, result));
  };

  const authenticate = async (role: Role, token: string | undefined): Promise<Admission> => {
    if (draining) return { ok: false, status: 503, reason: 'draining', message: 'Node is shutting down' };
    if (!token) return { ok: false, status: 401, reason: 'missing_token', message: 'Missing token' };
    if (!ready()) {
      return { ok: false, status: 503, reason: 'unavailable', message: 'Relay cannot serve connections right now; retry' };
    }
    const principal = await backend.registry.authenticate(role, token);
    if (!principal) return { ok: false, status: 401, reason: 'bad_token', message: 'Unknown, revoked or wrong-role token' };
    return { ok: true, principal };
  };

  /** What this node keeps per connection, dropped once it has closed (socket) or ended (request). */
  const forgetHere = (connId: string) => {
    ctx.local.delete(connId);
    ctx.gates.delete(connId);
    ctx.outboxFlushes.delete(connId);
    ctx.deliveryOrder.forget(connId);
  };

  /**
   * Frames routed to a connection that is gone go elsewhere (see finals.ts): those it may not
   * have sent, then those its outbox flush had taken and not yet written (`left`).
   */
  const handBack = async (conn: Connection, unflushed: UnflushedFinal[], left: FinalForApp[]) => {
    const finals = [...unflushed.map((f) => ({ appId: conn.principal.id, eventId: f.eventId, text: f.text })), ...left];
    await rerouteAll(ctx, finals, conn.id);
  };

  return {
    ready,
    authenticate,

    async admit(role, token): Promise<Admission> {
      const admission = await authenticate(role, token);
      if (!admission.ok) return admission;
      const { principal } = admission;
      const limit = await connectionLimit(role, principal.id);
      if ((await backend.presence.count(role, principal.id)) >= limit) {
        return { ok: false, status: 429, reason: 'max_connections', message: `At most ${limit} connections` };
      }
      return { ok: true, principal };
    },

    opened(conn: Connection) {
      ctx.local.set(conn.id, conn);
      metrics.connections.inc({ role: conn.role });
      log.info({ conn: conn.id, role: conn.role, [`${conn.role}_id`]: conn.principal.id }, 'connection opened');
      queue.run(conn, 0, async () => {
        // Upgrades racing past admission: the place is taken here, by whichever comes first.
        const limit = await connectionLimit(conn.role, conn.principal.id);
        const placed = await backend.presence.add(
          { connId: conn.id, nodeId, role: conn.role, principalId: conn.principal.id, tokenId: conn.principal.tokenId, since: conn.since },
          limit,
        );
        if (!placed) {
          conn.close(CloseCode.POLICY, `At most ${limit} connections`);
          return;
        }
        // Admitted just before its token was revoked, and opened just after the news came.
        if (kicks.kicked(conn.principal.tokenId)) {
          conn.close(CloseCode.POLICY, 'Token revoked');
          return;
        }
        if (conn.role === 'app') return flushOutbox(ctx, conn.id, conn.principal.id);
        const agent = await backend.registry.agent(conn.principal.id);
        const maxInFlight = agent?.maxInFlight ?? 1;
        queue.setBudget(conn, agentQueueBudget(maxInFlight));
        await dispatched(ctx, await backend.queue.attach(conn.principal.id, { connId: conn.id, nodeId, maxInFlight }));
      });
    },

    closed(conn: Connection, unflushed: UnflushedFinal[]) {
      const left = leftOfPiece(ctx, conn.id);
      forgetHere(conn.id);
      metrics.connections.dec({ role: conn.role });
      log.info({ conn: conn.id, role: conn.role, [`${conn.role}_id`]: conn.principal.id }, 'connection closed');
      // Each backend step that fails (Redis is down) is kept and retried: see owed-work.ts.
      ctx.track(
        'close',
        (async () => {
          await ctx.owed.run({ step: 'presence', conn: conn.id }, () => backend.presence.remove(conn.id));
          // Frames that arrived before the close (a reply sent just before disconnecting) are
          // handled first, so an answered event is not handed back and done twice. The frame
          // queue is bounded (frame-queue.ts) and holds no network waits on the memory backend.
          await queue.closed(conn.id);
          if (conn.role === 'agent') {
            for (const [eventId, held] of ctx.inFlight) if (held.connId === conn.id) forgetInFlight(ctx, eventId);
            await ctx.owed.run({ step: 'detach', conn: conn.id }, () => detach(conn.principal.id, conn.id));
          }
          await handBack(conn, unflushed, left);
        })(),
      );
    },

    requestStarted(conn: Connection) {
      ctx.local.set(conn.id, conn);
    },

    requestEnded(conn: Connection, unflushed: UnflushedFinal[]) {
      const left = leftOfPiece(ctx, conn.id);
      forgetHere(conn.id);
      ctx.track(
        'close',
        (async () => {
          await queue.closed(conn.id);
          await handBack(conn, unflushed, left);
        })(),
      );
    },

    async drain() {
      draining = true;
      liveness.stop();
      ctx.owed.stop();
      kicks.stop();
      for (const conn of [...ctx.local.values()]) conn.close(CloseCode.GOING_AWAY, 'Node shutting down; reconnect');
      await ctx.settled();
      await ctx.activity.stop();
      for (const held of ctx.inFlight.values()) clearTimeout(held.timer);
    },
  };
}
