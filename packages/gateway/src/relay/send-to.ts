import { heldUntilAccepted } from './accepting';
import { nodeOfConnection } from '../ids';
import type { Assignment, ConnectionInfo, EventRecord, StreamEnd } from '../ports';
import type { RelayContext } from './context';
import { deliveryKey, eventDelivered, forgetInFlight, replyTimer } from './lifecycle';
import { agentCancelFrame, agentEventFrame, appTokenHead } from './outbound';
import { admitToken, behind, closeGate, endStream, gateOf, openGate, type TokenAt } from './resume';

// "Send this to that connection, here or on its node": one function per kind of frame. A frame
// for a socket on another node goes through that node's bus channel, and the bus handler there
// calls the same function, which then finds the socket here. So each rule (a token never
// follows its final, a cancel forgets the event first) holds on both paths.

/**
 * An assigned event to its agent socket, after those assigned to it earlier (delivery-order.ts);
 * written, it is in flight there, its reply timer running. If the socket has gone, nothing is
 * lost: closing it detaches the connection, which hands the event back. `event` null: it ended
 * before it was sent, and only its place in the order is passed.
 */
export async function eventToAgent(ctx: RelayContext, assignment: Assignment, event: EventRecord | null): Promise<void> {
  if (assignment.nodeId !== ctx.nodeId) {
    ctx.backend.bus.publish(assignment.nodeId, { kind: 'deliver', assignment, event });
    return;
  }
  if (!ctx.local.has(assignment.connId)) return;
  ctx.deliveryOrder.inOrder(assignment.connId, assignment.seq, () => {
    if (event) writeEvent(ctx, assignment, event);
  });
}

function writeEvent(ctx: RelayContext, assignment: Assignment, event: EventRecord): void {
  const conn = ctx.local.get(assignment.connId);
  if (!conn) return;
  // Sent here again by a resend (see DeliveryQueue.enqueue): the connection has it already.
  if (ctx.inFlight.get(event.id)?.connId === conn.id) return;
  // Or it was, and was answered or handed back before that resend's copy arrived.
  if (ctx.letGo.has(deliveryKey(event.id, assignment.attempt))) return;
  const text = agentEventFrame(event, assignment.attempt);
  ctx.inFlight.set(event.id, {
    event,
    connId: conn.id,
    attempt: assignment.attempt,
    tokenHead: appTokenHead(event),
    tokens: 0,
    recordedBytes: 0,
    answered: false,
    timer: replyTimer(ctx, event),
  });
  if (!conn.send(text, 'control')) return;
  eventDelivered(ctx, event, conn, assignment.attempt);
}

/**
 * A token frame to the app connection that sent (or resumed) the event, recorded already
 * (lifecycle.ts tokenRelayed). One for a socket that is gone or backed up is dropped (and
 * counted): the app gets it back with `resume`. So is one that a final decided on this node
 * overtook, so the final frame stays the last frame of its event. Every token passes its event's
 * gate on the connection (resume.ts): behind a resume's replay, or a gap being filled. No lookup per token: the connection id names its node, which drops it
 * if the socket is gone.
 */
export function tokenToApp(ctx: RelayContext, appConnId: string, eventId: string, text: string, at: TokenAt): void {
  const node = nodeOfConnection(appConnId);
  const conn = ctx.local.get(appConnId);
  if (!conn && node !== ctx.nodeId) {
    ctx.backend.bus.publish(node, { kind: 'app-token', connId: appConnId, eventId, text, ...at });
    return;
  }
  if (heldUntilAccepted(ctx, eventId, () => writeToken(ctx, appConnId, eventId, text, at))) return;
  writeToken(ctx, appConnId, eventId, text, at);
}

function writeToken(ctx: RelayContext, appConnId: string, eventId: string, text: string, at: TokenAt): void {
  const conn = ctx.local.get(appConnId);
  if (!conn) {
    ctx.metrics.tokensDropped.inc({ reason: 'app_gone' });
    return;
  }
  if (conn.hasSentFinal(eventId)) {
    ctx.metrics.tokensDropped.inc({ reason: 'after_final' });
    return;
  }
  if (!admitToken(ctx, conn, eventId, text, at)) return;
  if (conn.send(text, 'token')) ctx.metrics.tokensRelayed.tally();
  else ctx.metrics.tokensDropped.inc({ reason: 'backpressure' });
}

/**
 * Tells the agent connection holding an event to stop working on it. This node forgets the
 * event first, so nothing the agent still sends for it counts. A connection of no live node
 * needs nothing: its node's reaping hands its events back.
 */
export async function cancelToAgent(ctx: RelayContext, agentConnId: string, eventId: string): Promise<void> {
  const here = ctx.local.has(agentConnId) || nodeOfConnection(agentConnId) === ctx.nodeId;
  const node = here ? ctx.nodeId : (await ctx.backend.presence.get(agentConnId))?.nodeId;
  if (node === undefined) return;
  if (node !== ctx.nodeId) {
    ctx.backend.bus.publish(node, { kind: 'agent-cancel', connId: agentConnId, eventId });
    return;
  }
  forgetInFlight(ctx, eventId);
  ctx.local.get(agentConnId)?.send(agentCancelFrame(eventId), 'control');
}

/**
 * A final frame for an app connection, with (`stream`) how many tokens its attempt sent: to the
 * connection the event streams to, and wherever it goes when that one is gone (another
 * connection of the app, the outbox), so the connection that takes it gets them first.
 */
export interface FinalForApp {
  appId: string;
  eventId: string;
  text: string;
  stream?: StreamEnd | undefined;
}

/**
 * The final is the event's last frame on the connection. One that comes while a replay is read
 * waits for it (resume.ts); one that says its attempt sent more tokens than the connection was
 * written is preceded by the rest, read from the record (endStream), unless the reader is
 * backed up (it resumes instead).
 */
export function writeFinal(ctx: RelayContext, connId: string, final: FinalForApp): boolean {
  const conn = ctx.local.get(connId);
  const gate = conn ? gateOf(ctx, connId, final.eventId) : undefined;
  if (conn && !conn.hasSentFinal(final.eventId) && (gate?.replaying || (behind(gate, final.stream) && !conn.backedUp()))) {
    const held = gate ?? openGate(ctx, connId, final.eventId);
    held.final = final.text;
    held.end = final.stream;
    if (!held.replaying) ctx.track('final', endStream(ctx, conn, final.eventId, held));
    return true;
  }
  closeGate(ctx, connId, final.eventId);
  return conn?.sendFinal(final.eventId, final.text) ?? false;
}
