import { ErrorCode, type AgentReplyFrame, type AgentTokenFrame } from '@relay/protocol';
import { nodeOfConnection } from '../ids';
import type { Assignment, EventRecord } from '../ports';
import type { Connection } from './connection';
import type { RelayContext } from './context';
import { deliverFinal } from './finals';
import { agentCancelFrame, agentEventFrame, appReplyFrame, appTokenFrame, errorFrame } from './outbound';

/** Sends an assigned event to its agent socket: here, or through the bus to the node holding it. */
export async function deliverAssignment(ctx: RelayContext, assignment: Assignment): Promise<void> {
  const event = await ctx.backend.events.get(assignment.eventId);
  if (!event || event.finished) {
    // Ended meanwhile. Its finisher takes it out of the queue, unless it died first: then it
    // would hold this connection's place for ever. Taking it out twice is harmless.
    await ctx.dispatched(await ctx.backend.queue.remove(assignment.agentId, assignment.eventId, false));
    return;
  }
  if (assignment.nodeId !== ctx.nodeId) {
    await ctx.backend.bus.publish(assignment.nodeId, { kind: 'deliver', assignment, event });
    return;
  }
  writeEvent(ctx, assignment, event);
}

/**
 * Writes the event to the agent socket on this node and starts its reply timer. If the socket
 * has gone, nothing is lost: closing it detaches the connection, which hands the event back.
 */
export function writeEvent(ctx: RelayContext, assignment: Assignment, event: EventRecord): void {
  const conn = ctx.local.get(assignment.connId);
  if (!conn) return;
  // Sent here again by a resend (see DeliveryQueue.enqueue): the connection has it already.
  if (ctx.inFlight.get(event.id)?.connId === conn.id) return;
  ctx.inFlight.set(event.id, {
    event,
    connId: conn.id,
    attempt: assignment.attempt,
    tokens: 0,
    answered: false,
    timer: replyTimer(ctx, event),
  });
  if (!conn.send(agentEventFrame(event, assignment.attempt), 'control')) return;
  ctx.note(event.id, { at: Date.now(), kind: 'delivered', node: ctx.nodeId, conn: conn.id, attempt: assignment.attempt });
  ctx.metrics.deliveries.inc({ attempt: assignment.attempt === 1 ? '1' : 'retry' });
  ctx.metrics.deliveryLatency.observe(secondsSince(event.acceptedAt));
  ctx.activity.delivered(event, assignment.attempt);
  ctx.log.info(
    { event_id: event.id, agent_id: event.agentId, app_id: event.appId, conn: conn.id, attempt: assignment.attempt },
    'event delivered',
  );
}

function replyTimer(ctx: RelayContext, event: EventRecord): NodeJS.Timeout {
  return setTimeout(() => {
    ctx.track('agent-timeout', finishWithError(ctx, event.id, ErrorCode.AGENT_TIMEOUT));
  }, ctx.limits.replyTimeoutMs);
}

/** The in-flight entry for a frame of this agent socket, or an UNKNOWN_EVENT answer. */
function heldBy(ctx: RelayContext, conn: Connection, eventId: string, ref: string | undefined) {
  const held = ctx.inFlight.get(eventId);
  if (held && held.connId === conn.id && !held.answered) return held;
  ctx.metrics.framesRejected.inc({ role: 'agent', code: ErrorCode.UNKNOWN_EVENT });
  conn.send(
    errorFrame(ErrorCode.UNKNOWN_EVENT, 'This connection holds no unanswered event with that id', { event_id: eventId, ref }),
    'control',
  );
  return undefined;
}

/** Relays one token to the app connection that sent the event. Tokens are live only. */
export async function relayToken(ctx: RelayContext, conn: Connection, frame: AgentTokenFrame): Promise<void> {
  const held = heldBy(ctx, conn, frame.event_id, frame.ref);
  if (!held) return;
  const seq = held.tokens++;
  ctx.activity.token(held.event, seq);
  if (seq === 0) {
    ctx.note(held.event.id, { at: Date.now(), kind: 'first_token', node: ctx.nodeId, attempt: held.attempt });
    ctx.metrics.timeToFirstToken.observe({ agent: held.event.agentId }, secondsSince(held.event.acceptedAt));
  }
  held.timer.refresh(); // the reply timeout counts silence, not the length of the answer
  const text = appTokenFrame(held.event, frame.token, seq);
  const app = ctx.local.get(held.event.appConnId);
  if (app) {
    if (app.send(text, 'token')) ctx.metrics.tokensRelayed.inc();
    else ctx.metrics.tokensDropped.inc({ reason: 'backpressure' });
    return;
  }
  const node = nodeOfConnection(held.event.appConnId);
  if (node === ctx.nodeId) {
    ctx.metrics.tokensDropped.inc({ reason: 'app_gone' });
    return;
  }
  // No lookup per token: the node named in the connection id drops it if the socket is gone.
  await ctx.backend.bus.publish(node, { kind: 'app-token', connId: held.event.appConnId, eventId: held.event.id, text });
}

/** The agent's final answer: ends the event once and sends the reply to the app. */
export async function acceptReply(
  ctx: RelayContext,
  conn: Connection,
  frame: AgentReplyFrame,
  echoedPayloadRaw: string | undefined,
): Promise<void> {
  const held = heldBy(ctx, conn, frame.event_id, frame.ref);
  if (!held) return;
  held.answered = true;
  clearTimeout(held.timer);
  const text = appReplyFrame(held.event, frame, echoedPayloadRaw, held.tokens, Date.now());
  let event: EventRecord | null;
  try {
    // If the event was meanwhile handed to another connection, that one is told to stop.
    event = await settle(ctx, held.event.id, held.event.agentId, text, async (connId) => {
      if (connId !== conn.id) await cancelAtAgent(ctx, connId, held.event.id);
    });
  } catch (err) {
    // The store could not take the reply (Redis is down). The agent is told RELAY_UNAVAILABLE
    // and may send the reply again, so the event stays this connection's, with its reply
    // timeout running again: otherwise it would wait for ever for a reply nobody could send.
    if (ctx.inFlight.get(held.event.id) === held) {
      held.answered = false;
      held.timer = replyTimer(ctx, held.event);
    }
    throw err;
  }
  if (!event) {
    // cancelled or timed out while the reply was on its way
    conn.send(errorFrame(ErrorCode.UNKNOWN_EVENT, 'The event had already ended', { event_id: frame.event_id, ref: frame.ref }), 'control');
    return;
  }
  ctx.metrics.eventsFinished.inc({ outcome: `reply_${frame.finish_reason}` });
  ctx.metrics.timeToReply.observe({ agent: event.agentId }, secondsSince(event.acceptedAt));
  ctx.activity.ended(event, `reply_${frame.finish_reason}`);
  ctx.note(event.id, { at: Date.now(), kind: 'final', node: ctx.nodeId, outcome: 'reply', finishReason: frame.finish_reason });
  ctx.log.info(
    { event_id: event.id, agent_id: event.agentId, app_id: event.appId, finish_reason: frame.finish_reason },
    'event answered',
  );
  await deliverFinal(ctx, event, text);
}

/**
 * Ends an event with a final error (EVENT_EXPIRED, AGENT_TIMEOUT, CANCELLED). An agent still
 * working on it is told to stop. Does nothing if the event has already ended. `ref` is the
 * cancel frame's, when the final error is also the answer to it; `message` replaces the code's
 * default text when the app should know why (an operator deleted the agent).
 */
export async function finishWithError(
  ctx: RelayContext,
  eventId: string,
  code: ErrorCode,
  ref?: string,
  message?: string,
): Promise<boolean> {
  const known = ctx.inFlight.get(eventId)?.event ?? (await ctx.backend.events.get(eventId));
  if (!known) return false;
  // The final kept with the event carries no ref: a resend from another connection may get it.
  const final = errorFrame(code, message, { event_id: eventId });
  const event = await settle(ctx, eventId, known.agentId, final, (connId) => cancelAtAgent(ctx, connId, eventId));
  if (!event) return false;
  ctx.metrics.eventsFinished.inc({ outcome: code });
  ctx.activity.ended(event, code);
  ctx.note(eventId, { at: Date.now(), kind: 'final', node: ctx.nodeId, outcome: code, ...(message ? { reason: message } : {}) });
  ctx.log.info({ event_id: eventId, agent_id: event.agentId, app_id: event.appId, code }, 'event ended');
  await deliverFinal(ctx, event, ref === undefined ? final : errorFrame(code, message, { event_id: eventId, ref }));
  return true;
}

/**
 * Marks the event finished with its final frame (exactly once, cluster-wide) and takes it out of
 * the queue, freeing its agent connection's capacity for the next event. Returns null if it had
 * already ended. The caller then hands the final on with `deliverFinal`.
 *
 * An event that had ended is taken out of the queue too: its finisher does that, unless it died
 * first, and then a redelivery of it would hold an agent connection's place for ever.
 */
async function settle(
  ctx: RelayContext,
  eventId: string,
  agentId: string,
  final: string,
  whileInFlight?: (connId: string) => Promise<void>,
): Promise<EventRecord | null> {
  const event = await ctx.backend.events.finish(eventId, final, Date.now());
  if (event) await ctx.backend.scheduler.cancel({ kind: 'expire', agentId, eventId });
  const removed = await ctx.backend.queue.remove(agentId, eventId, false);
  if (removed.was === 'in-flight' && removed.connId !== undefined && whileInFlight) await whileInFlight(removed.connId);
  forgetInFlight(ctx, eventId);
  await ctx.dispatched(removed);
  return event;
}

async function cancelAtAgent(ctx: RelayContext, connId: string, eventId: string): Promise<void> {
  if (ctx.local.has(connId)) {
    forgetInFlight(ctx, eventId);
    ctx.local.get(connId)?.send(agentCancelFrame(eventId), 'control');
    return;
  }
  const holder = await ctx.backend.presence.get(connId);
  if (holder) await ctx.backend.bus.publish(holder.nodeId, { kind: 'agent-cancel', connId, eventId });
}

/**
 * The app resent an in-flight event from another connection: if this node holds it, its tokens
 * go to that connection from now on. Says whether this node holds it.
 */
export function followApp(ctx: RelayContext, eventId: string, appConnId: string): boolean {
  const held = ctx.inFlight.get(eventId);
  if (!held) return false;
  held.event = { ...held.event, appConnId };
  return true;
}

export function forgetInFlight(ctx: RelayContext, eventId: string): void {
  const held = ctx.inFlight.get(eventId);
  if (!held) return;
  clearTimeout(held.timer);
  ctx.inFlight.delete(eventId);
}

/** Seconds from an instant to now; never negative, though nodes' clocks may differ a little. */
function secondsSince(at: number): number {
  return Math.max(0, Date.now() - at) / 1000;
}
