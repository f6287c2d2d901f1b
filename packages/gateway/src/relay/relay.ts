import type { Logger } from 'pino';
import {
  CloseCode,
  ErrorCode,
  MAX_AGENT_FRAME_BYTES,
  parseAgentFrame,
  parseAppFrame,
  type FrameError,
  type Role,
} from '@relay/protocol';
import type { Backend, BusMessage, DispatchResult, Principal, Task } from '../ports';
import {
  acceptReply,
  deliverAssignment,
  finishWithError,
  followApp,
  forgetInFlight,
  relayToken,
  writeEvent,
} from './agent-work';
import { acceptEvent, cancelEvent, discover } from './app-work';
import type { Connection, UnflushedFinal } from './connection';
import type { RelayContext, RelayLimits } from './context';
import { createAdmin, type Admin, type AdminOptions } from '../admin/admin';
import { flushOutbox, rerouteFinal } from './finals';
import { createKicks, expireToken } from './kick';
import type { Metrics } from './metrics';
import { agentCancelFrame, errorFrame, pongFrame } from './outbound';
import { RelayError } from './relay-error';
import { retryDelay } from './retry';
import { startLiveness } from './liveness';
import { createOwedWork } from './owed-work';
import { createActivityRecorder } from '../activity/recorder';

export interface RelayOptions {
  nodeId: string;
  backend: Backend;
  log: Logger;
  metrics: Metrics;
  limits: RelayLimits;
  /** Default: admin mode, agents created with a 1 h default TTL. */
  admin?: AdminOptions;
}

export type Admission =
  | { ok: true; principal: Principal }
  | { ok: false; status: 401 | 429 | 503; reason: string; message: string };

/** The core as the transport sees it: admission at the upgrade, then socket lifecycle events. */
export interface Relay {
  admit(role: Role, token: string | undefined): Promise<Admission>;
  opened(conn: Connection): void;
  received(conn: Connection, text: string): void;
  closed(conn: Connection, unflushed: UnflushedFinal[]): void;
  /** Ready to take traffic: not draining, and the backend can record events. */
  ready(): boolean;
  /** Stops admitting, closes every socket with 1001 and waits for the work they started. */
  drain(): Promise<void>;
  /** The operations behind the admin API (transport/admin-routes.ts). */
  readonly admin: Admin;
}

/**
 * Frames from one socket are handled in order. While the store stalls, none finishes: this many
 * waiting, or this much of their text (in characters; an event carries up to 64 KB), is a
 * flood, and closes the socket, so one client cannot fill the node's memory.
 */
const MAX_QUEUED_FRAMES = 10_000;
const MAX_QUEUED_BYTES = 8 * 1024 * 1024;
/**
 * An agent may owe a reply of up to MAX_AGENT_FRAME_BYTES for each event it may hold, and a
 * fast one sends them all at once: those never count as a flood. So an agent socket's budget is
 * that much on top of everyone's, set once its max_in_flight is known.
 */
const agentQueueBudget = (maxInFlight: number) => MAX_QUEUED_BYTES + maxInFlight * MAX_AGENT_FRAME_BYTES;

export function createRelay(options: RelayOptions): Relay {
  const { backend, log, metrics, nodeId } = options;
  const pending = new Set<Promise<unknown>>();
  const chains = new Map<string, { tail: Promise<void>; depth: number; bytes: number; budget: number }>();
  let draining = false;

  const ctx: RelayContext = {
    nodeId,
    backend,
    log,
    metrics,
    activity: createActivityRecorder(backend.activity, {
      onError(err) {
        metrics.backgroundErrors.inc({ task: 'activity' });
        log.warn({ err }, 'activity batch not written; the Dashboard misses it');
      },
    }),
    limits: options.limits,
    local: new Map(),
    inFlight: new Map(),
    track(task, work) {
      const p: Promise<unknown> = work
        .catch((err: unknown) => {
          metrics.backgroundErrors.inc({ task });
          log.error({ err, task }, 'background work failed');
        })
        .finally(() => pending.delete(p));
      pending.add(p);
    },
    note(eventId, entry) {
      ctx.track('timeline', backend.events.note(eventId, entry, options.limits.timelineRetentionMs ?? 3_600_000));
    },
    // The queue has already assigned these (or taken them out, expired): if writing or ending
    // one fails, it is owed, not dropped, and the rest still go.
    async dispatched(result: DispatchResult) {
      for (const assignment of result.assigned) {
        const fields = { step: 'deliver', event_id: assignment.eventId, conn: assignment.connId } as const;
        await owed.run(fields, () => deliverAssignment(ctx, assignment));
      }
      for (const eventId of result.expired) {
        await owed.run({ step: 'expire', event_id: eventId }, async () => {
          await finishWithError(ctx, eventId, ErrorCode.EVENT_EXPIRED);
        });
      }
    },
  };

  const owed = createOwedWork({
    ready: () => backend.ready(),
    intervalMs: Math.max(100, Math.min(1_000, Math.floor(options.limits.nodeTtlMs / 3))),
    failed(fields, err) {
      metrics.backgroundErrors.inc({ task: fields.step });
      log.warn({ err, ...fields }, 'the backend refused a step; retrying it when the backend is ready');
    },
    track: (work) => ctx.track('owed', work),
  });

  const chainOf = (conn: Connection) => {
    let chain = chains.get(conn.id);
    if (!chain) chains.set(conn.id, (chain = { tail: Promise.resolve(), depth: 0, bytes: 0, budget: MAX_QUEUED_BYTES }));
    return chain;
  };

  /**
   * Runs frame work for one socket in arrival order; a RelayError becomes an error frame.
   * `bytes` is the frame's text length, counted against the socket's budget while it waits.
   */
  const serial = (conn: Connection, bytes: number, work: () => Promise<void>, echo: { ref?: string; event_id?: string } = {}) => {
    const chain = chainOf(conn);
    if (chain.depth >= MAX_QUEUED_FRAMES || chain.bytes + bytes > chain.budget) {
      metrics.framesRejected.inc({ role: conn.role, code: 'FLOOD' });
      conn.close(CloseCode.OVERLOADED, 'Too many frames waiting; slow down');
      return;
    }
    chain.depth += 1;
    chain.bytes += bytes;
    chain.tail = chain.tail
      .then(work)
      .catch((err: unknown) => reject(conn, err, echo))
      .finally(() => {
        chain.depth -= 1;
        chain.bytes -= bytes;
      });
    ctx.track('frame', chain.tail);
  };

  const reject = (conn: Connection, err: unknown, echo: { ref?: string; event_id?: string }) => {
    const error: FrameError =
      err instanceof RelayError
        ? { code: err.code, message: err.message, ...echo, ...(err.eventId ? { event_id: err.eventId } : {}) }
        : { code: ErrorCode.RELAY_UNAVAILABLE, message: 'Relay could not handle this frame; retry with backoff', ...echo };
    if (!(err instanceof RelayError)) log.error({ err, conn: conn.id }, 'frame handling failed');
    sendError(conn, error);
  };

  const sendError = (conn: Connection, error: FrameError) => {
    metrics.framesRejected.inc({ role: conn.role, code: error.code });
    conn.send(
      errorFrame(error.code, error.message, { event_id: error.event_id, ref: error.ref, details: error.details }),
      'control',
    );
  };

  const onAppFrame = (conn: Connection, text: string) => {
    const parsed = parseAppFrame(text);
    if (!parsed.ok) return sendError(conn, parsed.error);
    const frame = parsed.frame;
    switch (frame.type) {
      case 'event':
        return serial(conn, text.length, () => acceptEvent(ctx, conn, frame, parsed.payloadRaw as string), { ref: frame.ref });
      case 'discover':
        return serial(conn, text.length, () => discover(ctx, conn, frame.ref), { ref: frame.ref });
      case 'cancel':
        return serial(conn, text.length, () => cancelEvent(ctx, conn, frame), { ref: frame.ref, event_id: frame.event_id });
      case 'ping':
        return void conn.send(pongFrame(frame.ref), 'control');
      case 'pong':
        return;
    }
  };

  const onAgentFrame = (conn: Connection, text: string) => {
    const parsed = parseAgentFrame(text);
    if (!parsed.ok) return sendError(conn, parsed.error);
    const frame = parsed.frame;
    switch (frame.type) {
      case 'token':
        return serial(conn, text.length, () => relayToken(ctx, conn, frame), { ref: frame.ref, event_id: frame.event_id });
      case 'reply':
        return serial(conn, text.length, () => acceptReply(ctx, conn, frame, parsed.payloadRaw), {
          ref: frame.ref,
          event_id: frame.event_id,
        });
      case 'ping':
        return void conn.send(pongFrame(frame.ref), 'control');
      case 'pong':
        return;
    }
  };

  const onBusMessage = (message: BusMessage) => {
    switch (message.kind) {
      case 'deliver':
        return writeEvent(ctx, message.assignment, message.event);
      case 'app-token': {
        const conn = ctx.local.get(message.connId);
        // A final decided on this node (a cancel) can overtake tokens still on their way from
        // the agent's node: the final frame stays the last frame of its event.
        if (conn?.hasSentFinal(message.eventId)) {
          metrics.tokensDropped.inc({ reason: 'after_final' });
          return;
        }
        if (conn?.send(message.text, 'token')) metrics.tokensRelayed.inc();
        else metrics.tokensDropped.inc({ reason: conn ? 'backpressure' : 'app_gone' });
        return;
      }
      case 'app-final': {
        const conn = ctx.local.get(message.connId);
        if (conn?.sendFinal(message.eventId, message.text)) return;
        return ctx.track('final', rerouteFinal(ctx, message.appId, message.eventId, message.text, message.connId, message.avoid));
      }
      case 'agent-cancel':
        forgetInFlight(ctx, message.eventId);
        ctx.local.get(message.connId)?.send(agentCancelFrame(message.eventId), 'control');
        return;
      case 'app-moved':
        followApp(ctx, message.eventId, message.appConnId);
        return;
      case 'probe':
        liveness.probeReturned(message.sentAt);
        return;
      case 'kick':
        kicks.received(message);
        return;
    }
  };

  const onTask = async (task: Task) => {
    if (task.kind === 'token-expiry') return expireToken(ctx, task.role, task.principalId, task.tokenId);
    if (task.kind === 'release') return ctx.dispatched(await backend.queue.pump(task.agentId));
    if (task.kind === 'retry') {
      await ctx.dispatched(await backend.queue.pump(task.agentId));
      if ((await backend.queue.waiting(task.agentId)) === 0) return;
      return backend.scheduler.at(Date.now() + retryDelay(task.attempt + 1), { ...task, attempt: task.attempt + 1 });
    }
    const removed = await backend.queue.remove(task.agentId, task.eventId, true);
    if (removed.was === 'waiting') await finishWithError(ctx, task.eventId, ErrorCode.EVENT_EXPIRED);
    // In flight, it is the agent's: but if that agent drops it, it must not wait forever, so
    // look again later (a handed-back event past its expiry is also ended by the detach).
    if (removed.was === 'in-flight') await backend.scheduler.at(Date.now() + options.limits.replyTimeoutMs, task);
    await ctx.dispatched(removed);
  };

  /**
   * A message whose node is gone. A final frame must still reach the app, so it goes to another
   * connection or the outbox. The rest can be dropped: tokens are live only, and the events and
   * cancels for a dead node's agent sockets are handed back when that node is reaped.
   */
  const onUndelivered = (deadNode: string, message: BusMessage) => {
    if (message.kind !== 'app-final') return;
    log.warn({ dead_node: deadNode, event_id: message.eventId }, 'final frame for a node that is gone; routing it again');
    const avoid = [...(message.avoid ?? []), deadNode];
    ctx.track('final', rerouteFinal(ctx, message.appId, message.eventId, message.text, message.connId, avoid));
  };

  backend.scheduler.onDue(onTask);
  backend.bus.onUndelivered(onUndelivered);
  ctx.track('bus', backend.bus.subscribe(nodeId, onBusMessage));

  const liveness = startLiveness(ctx, options.limits.nodeTtlMs);
  /** An agent connection is gone: its unanswered events go back to the queue and on from there. */
  const detach = async (agentId: string, connId: string) => {
    const result = await backend.queue.detach(agentId, connId);
    if (result.assigned.length > 0) log.info({ agent_id: agentId, events: result.assigned.length }, 'events handed back for redelivery');
    // Not part of the step: once detached, a retry of it would find nothing to hand on.
    ctx.track('close', ctx.dispatched(result));
  };
  function isReady(): boolean {
    return !draining && liveness.alive && backend.ready();
  }

  const kicks = createKicks(ctx);
  const admin = createAdmin(ctx, options.admin ?? { registryMode: 'admin', defaultTtlMs: 3_600_000 });

  return {
    admin,
    async admit(role, token) {
      if (draining) return { ok: false, status: 503, reason: 'draining', message: 'Node is shutting down' };
      if (!token) return { ok: false, status: 401, reason: 'missing_token', message: 'Missing token' };
      if (!isReady()) {
        return { ok: false, status: 503, reason: 'unavailable', message: 'Relay cannot serve connections right now; retry' };
      }
      const principal = await backend.registry.authenticate(role, token);
      if (!principal) return { ok: false, status: 401, reason: 'bad_token', message: 'Unknown, revoked or wrong-role token' };
      const limit = await connectionLimit(role, principal.id);
      if ((await backend.presence.count(role, principal.id)) >= limit) {
        return { ok: false, status: 429, reason: 'max_connections', message: `At most ${limit} connections` };
      }
      return { ok: true, principal };
    },

    opened(conn) {
      ctx.local.set(conn.id, conn);
      metrics.connections.inc({ role: conn.role });
      log.info({ conn: conn.id, role: conn.role, [`${conn.role}_id`]: conn.principal.id }, 'connection opened');
      serial(conn, 0, async () => {
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
        chainOf(conn).budget = agentQueueBudget(maxInFlight);
        await ctx.dispatched(await backend.queue.attach(conn.principal.id, { connId: conn.id, nodeId, maxInFlight }));
      });
    },

    received(conn, text) {
      if (conn.role === 'app') onAppFrame(conn, text);
      else onAgentFrame(conn, text);
    },

    closed(conn, unflushed) {
      ctx.local.delete(conn.id);
      metrics.connections.dec({ role: conn.role });
      log.info({ conn: conn.id, role: conn.role, [`${conn.role}_id`]: conn.principal.id }, 'connection closed');
      // Each backend step that fails (Redis is down) is kept and retried: see owed-work.ts.
      ctx.track(
        'close',
        (async () => {
          await owed.run({ step: 'presence', conn: conn.id }, () => backend.presence.remove(conn.id));
          // Frames that arrived before the close (a reply sent just before disconnecting) are
          // handled first, so an answered event is not handed back and done twice. The queue
          // is bounded by MAX_QUEUED_FRAMES and the socket's byte budget, and holds no network
          // waits on the memory backend.
          await chains.get(conn.id)?.tail;
          chains.delete(conn.id);
          if (conn.role === 'agent') {
            for (const [eventId, held] of ctx.inFlight) if (held.connId === conn.id) forgetInFlight(ctx, eventId);
            await owed.run({ step: 'detach', conn: conn.id }, () => detach(conn.principal.id, conn.id));
          }
          for (const final of unflushed) {
            await owed.run({ step: 'final', conn: conn.id }, () =>
              rerouteFinal(ctx, conn.principal.id, final.eventId, final.text, conn.id),
            );
          }
        })(),
      );
    },

    ready: isReady,

    async drain() {
      draining = true;
      liveness.stop();
      owed.stop();
      kicks.stop();
      for (const conn of [...ctx.local.values()]) conn.close(CloseCode.GOING_AWAY, 'Node shutting down; reconnect');
      while (pending.size > 0) await Promise.allSettled([...pending]);
      await ctx.activity.stop();
      for (const held of ctx.inFlight.values()) clearTimeout(held.timer);
    },
  };

  async function connectionLimit(role: Role, id: string): Promise<number> {
    const record = role === 'app' ? await backend.registry.app(id) : await backend.registry.agent(id);
    return record?.maxConnections ?? 0;
  }
}
