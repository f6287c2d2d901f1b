import {
  ErrorCode,
  sessionKey,
  type EventStatus,
  type AppCancelFrame,
  type AppEventFrame,
} from '@relay/protocol';
import { isAllowed, RateRefused, type DispatchResult, type EventRecord, type QueueEntry } from '../ports';
import { newEventId, nodeOfConnection } from '../ids';
import type { Connection } from './connection';
import type { RelayContext } from './context';
import { dispatched } from './delivery';
import { eventAccepted, finishWithError, followApp } from './lifecycle';
import { acceptedFrame, agentsFrame, finalOnWire } from './outbound';
import { endAccepting, startAccepting } from './accepting';
import type { AcceptTurn } from './accept-turns';
import { RelayError } from './relay-error';
import { resendFinal } from './resume';
import { retryDelay } from './retry';

/**
 * An app's event: validated, checked against allowlist, rate and queue limits, recorded, and
 * only then acknowledged with `accepted`. This node delivers it after the acknowledgement, and
 * what an agent sends for it before then (another node gave it out) waits behind it
 * (accepting.ts), so the app never sees tokens for an event id it has not been given yet.
 * A socket's events are accepted concurrently, in the order accept-turns.ts keeps.
 */
export async function acceptEvent(
  ctx: RelayContext,
  conn: Connection,
  frame: AppEventFrame,
  payloadRaw: string,
): Promise<void> {
  const turn = ctx.acceptTurns.take(conn, frame.agent_id, sessionKey(frame.agent_id, frame.thread_id));
  try {
    await accept(ctx, conn, frame, payloadRaw, turn);
    turn.answered();
  } catch (err) {
    turn.end(); // a failed accept holds up nothing but the socket's next answer
    await turn.answerAfter;
    // The frame queue writes the error as this rejects, before the next macrotask: the
    // socket's next event answers after it.
    setImmediate(turn.answered);
    throw err;
  } finally {
    turn.end();
  }
}

async function accept(ctx: RelayContext, conn: Connection, frame: AppEventFrame, payloadRaw: string, turn: AcceptTurn): Promise<void> {
  const appId = conn.principal.id;
  const { backend } = ctx;
  const now = Date.now();
  // Every read an accept may need, in one round trip: they change nothing, so reading for an
  // event that is then refused costs nothing but the read (an unknown agent's queue is empty).
  const [agent, app, seen, waitingAtFirst] = await Promise.all([
    backend.registry.agent(frame.agent_id),
    backend.registry.app(appId),
    frame.idempotency_key === undefined ? null : backend.events.findByKey(appId, frame.idempotency_key, now),
    backend.queue.waiting(frame.agent_id),
  ]);
  if (!agent) throw new RelayError(ErrorCode.AGENT_NOT_FOUND, `No agent "${frame.agent_id}"`);
  if (!isAllowed(agent, appId)) throw new RelayError(ErrorCode.ALLOWLIST_DENIED);
  if (!app) throw new RelayError(ErrorCode.ALLOWLIST_DENIED, 'This app is no longer registered');
  if (!backend.ready()) throw new RelayError(ErrorCode.RELAY_UNAVAILABLE);

  // A resend of an event already accepted adds no work, so it is answered before the limits
  // that only new events face: refusing it would tell the app its event was not taken when it
  // was. (`append` below still catches a resend racing the first send.)
  if (seen) return answerResend(ctx, conn, seen, frame.ref, turn);
  // The queue cap before the rate limiter, so an event refused for a full queue does not use
  // up the app's rate budget.
  let waiting = waitingAtFirst;
  if (waiting < agent.maxQueue && turn.mayCrowd(waiting, agent.maxQueue)) {
    await turn.earlierPlacesTaken;
    waiting = await backend.queue.waiting(agent.id);
  }
  if (waiting >= agent.maxQueue) {
    throw new RelayError(ErrorCode.QUEUE_FULL, `Agent "${agent.id}" already has ${agent.maxQueue} events waiting`);
  }
  const ttlMs = Math.min(frame.ttl_ms ?? agent.defaultTtlMs, ctx.limits.maxTtlMs);
  const event = {
    id: newEventId(now),
    appId,
    agentId: agent.id,
    threadId: frame.thread_id,
    sessionKey: sessionKey(agent.id, frame.thread_id),
    payloadRaw,
    acceptedAt: now,
    expiresAt: now + ttlMs,
    appConnId: conn.id,
  };
  // From here on the event may be handed out (the store may queue it in its admission's step),
  // and an agent on another node may answer before `accepted` is written: that waits for it.
  startAccepting(ctx, event.id);
  const expiry = { kind: 'expire', agentId: agent.id, eventId: event.id } as const;
  try {
    // Sent beside the record, not after it: no round trip of its own before `accepted`. Taken back
    // if the event is not accepted after all; should that fail, the expiry finds nothing to expire.
    const expiring = backend.scheduler.at(event.expiresAt, expiry);
    expiring.catch(() => {}); // awaited once the event is queued
    // The record, the rate check and the order number go in one round trip (under AOF one
    // fsync), and, on a store that can, the queueing too, when nothing of its session is still
    // to be queued ahead of it on this socket (AcceptTurn.queueAfter). Nobody knows the event's
    // id before `accepted`, so the record of an event the limiter refuses is simply forgotten,
    // and so is the order number it took.
    // Its idempotency key, once claimed, answers resends: the store claims it only once the
    // event is counted (EventStore.append).
    let queueAfter: string | null = null;
    const appended = turn
      .inOrder(() => {
        queueAfter = turn.queueAfter(event.id);
        return backend.events.append(event, frame.idempotency_key, ctx.limits.idempotencyTtlMs, {
          rate: { softPerMin: app.rateLimitPerMin, hardPerMin: app.hardRateLimitPerMin },
          queueAfter,
        });
      })
      .catch((err: unknown) => {
        if (err instanceof RateRefused) throw new RelayError(ErrorCode.RATE_LIMITED, `Over ${app.hardRateLimitPerMin} events per minute; retry later`);
        throw err;
      });
    appended.catch(() => {}); // awaited in the session's turn below
    const queued = await turn.inSession(async () => {
      const { record, duplicate, notBefore, order, queued: queuedInStep } = await appended;
      if (duplicate) return { record, duplicate, notBefore };
      const result =
        queuedInStep ??
        (await enqueueInSession(ctx, turn, queueAfter, {
          eventId: record.id,
          agentId: record.agentId,
          sessionKey: record.sessionKey,
          order: order as number, // every append with an admission takes one
          notBefore,
          expiresAt: record.expiresAt,
        }));
      await expiring;
      return { record, duplicate, notBefore, result };
    });
    turn.placeTaken();
    if (queued.duplicate) {
      backend.scheduler.cancel(expiry).catch(() => {});
      return await answerResend(ctx, conn, queued.record, frame.ref, turn);
    }
    await acknowledge(ctx, conn, frame, queued.record, queued.result as DispatchResult, queued.notBefore, turn);
  } catch (err) {
    if (err instanceof RelayError && err.code === ErrorCode.RATE_LIMITED) backend.scheduler.cancel(expiry).catch(() => {});
    throw err;
  } finally {
    endAccepting(ctx, event.id); // after a failure too: what waited goes as it would have
  }
}

/**
 * Queues an event its record's step did not, in its session's turn on its socket. On a store that
 * runs steps in call order the turn comes once the session's earlier events here have sent
 * theirs: this one is sent at once, on condition that `after` (the one appended just before it,
 * unless that was queued by then) is in the queue, so a session's events go out together
 * instead of one round trip apart. Refused (that one had not been queued after all, or has
 * already left the queue), it is made again once every earlier one is queued, or never will be.
 */
async function enqueueInSession(ctx: RelayContext, turn: AcceptTurn, after: string | null, entry: QueueEntry): Promise<DispatchResult> {
  const { queue, runsInCallOrder } = ctx.backend;
  if (!runsInCallOrder || after === null) {
    const queueing = queue.enqueue(entry);
    if (runsInCallOrder) turn.queueSent();
    return queueing;
  }
  const queueing = queue.enqueueAfter(entry, after);
  turn.queueSent();
  const queued = await queueing;
  if (queued) return queued;
  await turn.earlierQueued;
  return queue.enqueue(entry);
}

/** What a queued event waits with, then `accepted` in its socket's turn, then its delivery if it is assigned. */
async function acknowledge(
  ctx: RelayContext,
  conn: Connection,
  frame: AppEventFrame,
  record: EventRecord,
  result: DispatchResult,
  notBefore: number,
  turn: AcceptTurn,
): Promise<void> {
  const { backend } = ctx;
  const now = record.acceptedAt;
  record.queued = !result.assigned.some((a) => a.eventId === record.id);
  // Independent writes, so in one round trip.
  await Promise.all([
    notBefore > now && backend.scheduler.at(notBefore, { kind: 'release', agentId: record.agentId, notBefore }),
    record.queued && backend.events.setQueued(record.id, true),
    record.queued && backend.scheduler.at(now + retryDelay(1), { kind: 'retry', agentId: record.agentId, attempt: 1 }),
  ]);

  await turn.answerAfter;
  eventAccepted(ctx, record, conn, record.queued ? (notBefore > now ? 'rate_limited' : 'offline') : undefined);
  conn.send(acceptedFrame(record, frame.ref), 'control');
  endAccepting(ctx, record.id);
  const delivering = dispatched(ctx, result, record);
  turn.answered(); // once its delivery has started, so the socket's deliveries start in order too
  await delivering;
}

/**
 * The app resent after losing its connection: answer as before, and stream to where it is now.
 * The event's tokens and final are pointed here before `accepted` is written (requeueing it can
 * wait on replicas), so they wait behind it, as for a first send (accepting.ts): an app must
 * not get tokens or a final for an event id it has not been given yet.
 */
async function answerResend(ctx: RelayContext, conn: Connection, record: EventRecord, ref: string | undefined, turn: AcceptTurn): Promise<void> {
  turn.end(); // a resend takes no new place, order number or session turn
  // A resend on another socket of this node may be holding them already: that one lets them go.
  const holding = !record.finished && !ctx.accepting.has(record.id);
  if (holding) startAccepting(ctx, record.id);
  let requeued: DispatchResult | undefined;
  try {
    requeued = await streamHere(ctx, conn, record);
    await turn.answerAfter;
    conn.send(acceptedFrame(record, ref), 'control');
  } finally {
    if (holding) endAccepting(ctx, record.id);
  }
  if (requeued) {
    const delivering = dispatched(ctx, requeued);
    turn.answered(); // once its delivery has started, so the socket's deliveries start in order too
    await delivering;
    return;
  }
  // An ended event's final may have been lost with a node (written to a socket that died with
  // it): a resend is how the app asks again. Not on a socket that was written it already (the
  // outbox is emptied into a new socket before its first resend); any other copy, apps dedupe.
  if (record.finished && record.final !== undefined && !conn.hasSentFinal(record.id)) {
    await resendFinal(ctx, conn, record, record.final);
  }
}

/** Points an unfinished resent event's stream at this connection, and queues it again. */
async function streamHere(ctx: RelayContext, conn: Connection, record: EventRecord): Promise<DispatchResult | undefined> {
  if (record.finished) return undefined;
  if (record.appConnId !== conn.id) {
    await ctx.backend.events.setAppConnection(record.id, conn.id);
    // Tokens are routed by the in-flight copy of the event (no lookup per token), which lives
    // on the node holding the agent's socket: point it at the new connection too.
    if (!followApp(ctx, record.id, conn.id)) {
      const agentConn = await ctx.backend.queue.holder(record.agentId, record.id);
      const node = agentConn === null ? ctx.nodeId : nodeOfConnection(agentConn);
      if (node !== ctx.nodeId) {
        ctx.backend.bus.publish(node, { kind: 'app-moved', eventId: record.id, appConnId: conn.id });
      }
    }
  }
  // The node that recorded the event may have died (or lost Redis) before queueing it: the app
  // never got `accepted` and resent, and the event is in no queue. Queue it; if it is queued
  // already, this only dispatches.
  return requeue(ctx, record);
}

/**
 * Enqueues an unfinished event again, with its expiry task. An answer that came meanwhile may
 * have taken it out of the queue before this put it back, so if it is finished now it is taken
 * out again: a finished event left in the queue would hold an agent's place for ever. One that
 * was never queued takes its place in the agent's order now (the number is unused when it is
 * queued already): its first send was never accepted.
 */
async function requeue(ctx: RelayContext, record: EventRecord): Promise<DispatchResult> {
  const { queue, events, scheduler } = ctx.backend;
  const result = await queue.enqueue({
    eventId: record.id,
    agentId: record.agentId,
    sessionKey: record.sessionKey,
    order: await events.nextOrder(record.agentId),
    notBefore: 0,
    expiresAt: record.expiresAt,
  });
  if ((await events.get(record.id))?.finished !== false) {
    const removed = await queue.remove(record.agentId, record.id, false);
    return { assigned: [...result.assigned, ...removed.assigned], expired: [...result.expired, ...removed.expired] };
  }
  await scheduler.at(record.expiresAt, { kind: 'expire', agentId: record.agentId, eventId: record.id });
  return result;
}

/** Lists the agents this app may send to, with their live status. */
export async function discover(ctx: RelayContext, conn: Connection, ref: string | undefined): Promise<void> {
  const agents = await ctx.backend.registry.agentsFor(conn.principal.id);
  const online = await ctx.backend.presence.onlineAgents(agents.map((a) => a.id));
  conn.send(agentsFrame(agents, online, ref), 'control');
}

/** Cancels one of this app's own events; the final CANCELLED error goes the usual final-frame way. */
export async function cancelEvent(ctx: RelayContext, conn: Connection, frame: AppCancelFrame): Promise<void> {
  const event = await ctx.backend.events.get(frame.event_id);
  // Another app's event is reported exactly like a missing one: its existence is not revealed.
  if (!event || event.appId !== conn.principal.id) {
    throw new RelayError(ErrorCode.UNKNOWN_EVENT, 'No event of this app with that id', frame.event_id);
  }
  // The CANCELLED final answers the cancel frame too, so it echoes its ref; but only to the
  // connection that sent the cancel, as another connection's refs mean nothing to it.
  const ref = event.appConnId === conn.id ? frame.ref : undefined;
  if (event.finished || !(await finishWithError(ctx, event.id, ErrorCode.CANCELLED, ref))) {
    throw new RelayError(ErrorCode.UNKNOWN_EVENT, 'The event has already ended', frame.event_id);
  }
}


/**
 * Where one of the app's events stands (GET /v1/events/:id). Another app's event is reported
 * exactly like a missing one: its existence is not revealed.
 */
export async function eventStatus(ctx: RelayContext, appId: string, eventId: string): Promise<EventStatus | undefined> {
  const { events, queue, streams } = ctx.backend;
  const record = await events.get(eventId);
  if (!record || record.appId !== appId) return undefined;
  // The stream names its attempt once one has begun (on one Redis primary a first attempt's only
  // once it ends, see TokenStreams.attempt); until then the queue's count of assignments does.
  const [holder, attempt, assigned] = await Promise.all([
    record.finished ? null : queue.holder(record.agentId, record.id),
    streams.attempt(record.id, record.agentId),
    record.finished ? 0 : queue.attempts(record.agentId, record.id),
  ]);
  return {
    event_id: record.id,
    agent_id: record.agentId,
    thread_id: record.threadId,
    session_key: record.sessionKey,
    state: record.finished ? 'finished' : holder !== null ? 'delivered' : 'queued',
    attempt: attempt ?? assigned,
    final: record.final === undefined ? null : (JSON.parse(finalOnWire(record.final)) as EventStatus['final']),
  };
}
