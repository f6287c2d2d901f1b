import { parseAgentFrame, parseAppFrame } from '@relay/protocol';
import { laterHere } from '../http-agents/agent-posts';
import type { WebhookAgents } from '../http-agents/webhook-agents';
import { nodeOfConnection } from '../ids';
import type { BusMessage } from '../ports';
import { acceptReply, relayToken } from './agent-frames';
import { acceptEvent, cancelEvent, discover } from './app-frames';
import { resumeEvent, switched } from './resume';
import type { Connection } from './connection';
import { beatInterval, type RelayContext } from './context';
import { finalTo, rerouteFinal } from './finals';
import { sendError } from './frame-errors';
import type { FrameQueue } from './frame-queue';
import type { Kicks } from './kick';
import { followApp } from './lifecycle';
import type { Liveness } from './liveness';
import { pongFrame } from './outbound';
import { cancelToAgent, eventToAgent, tokenToApp, type FinalForApp } from './send-to';

// Where each inbound frame and bus message goes. Pings are answered at once; the rest is queued
// behind the socket's earlier frames (frame-queue.ts), an agent's behind those of the same event.

/** Names each app event frame's lane; app frames have no other lanes. */
let eventLanes = 0;

/** One frame from an app socket. */
export function appFrame(ctx: RelayContext, queue: FrameQueue, conn: Connection, text: string): void {
  const parsed = parseAppFrame(text);
  if (!parsed.ok) return sendError(ctx, conn, parsed.error);
  const frame = parsed.frame;
  switch (frame.type) {
    case 'event':
      // A lane of its own: a socket's events are accepted concurrently (accept-turns.ts).
      return queue.run(conn, text.length, () => acceptEvent(ctx, conn, frame, parsed.payloadRaw as string), { ref: frame.ref }, `event ${++eventLanes}`);
    case 'discover':
      return queue.run(conn, text.length, () => discover(ctx, conn, frame.ref), { ref: frame.ref });
    case 'cancel':
      return queue.run(conn, text.length, () => cancelEvent(ctx, conn, frame), { ref: frame.ref, event_id: frame.event_id });
    case 'resume':
      return queue.run(conn, text.length, () => resumeEvent(ctx, conn, frame), { ref: frame.ref, event_id: frame.event_id });
    case 'ping':
      return void conn.send(pongFrame(frame.ref), 'control');
    case 'pong':
      return;
  }
}

/** One frame from an agent socket. */
export function agentFrame(ctx: RelayContext, queue: FrameQueue, conn: Connection, text: string): void {
  const parsed = parseAgentFrame(text);
  if (!parsed.ok) return sendError(ctx, conn, parsed.error);
  const frame = parsed.frame;
  switch (frame.type) {
    case 'token':
      return queue.run(conn, text.length, () => relayToken(ctx, conn, frame, parsed.tokenJson), echoOf(frame), frame.event_id);
    case 'reply':
      return queue.run(conn, text.length, () => acceptReply(ctx, conn, frame, parsed.payloadRaw), echoOf(frame), frame.event_id);
    case 'ping':
      return void conn.send(pongFrame(frame.ref), 'control');
    case 'pong':
      return;
  }
}

const echoOf = (frame: { ref?: string | undefined; event_id: string }) => ({ ref: frame.ref, event_id: frame.event_id });

/** A message from another node (or this one) for a socket here; its work is tracked as 'bus'. */
export function busMessage(ctx: RelayContext, message: BusMessage, node: { liveness: Liveness; kicks: Kicks; webhooks: WebhookAgents }): void {
  switch (message.kind) {
    case 'deliver':
      return ctx.track('bus', eventToAgent(ctx, message.assignment, message.event));
    case 'app-token':
      return tokenToApp(ctx, message.connId, message.eventId, message.text, message);
    case 'app-final':
      return ctx.track('final', finalHere(ctx, message));
    case 'agent-cancel':
      return ctx.track('bus', cancelToAgent(ctx, message.connId, message.eventId));
    case 'app-moved':
      followApp(ctx, message.eventId, message.appConnId);
      if (message.ack) ctx.track('bus', ackSwitch(ctx, message.appConnId, message.eventId));
      return;
    case 'app-switched':
      return switched(ctx, message.connId, message.eventId);
    case 'probe':
      return node.liveness.probeReturned(message.sentAt);
    case 'kick':
      return node.kicks.received(message);
    case 'agent-later':
      return ctx.track('bus', laterHere(ctx, node.webhooks, message.agentId, message.eventId, message.posted));
  }
}

/** Tells a resuming connection's node that this one switched, once its records are written. */
async function ackSwitch(ctx: RelayContext, connId: string, eventId: string): Promise<void> {
  await ctx.backend.streams.flushed();
  ctx.backend.bus.publish(nodeOfConnection(connId), { kind: 'app-switched', connId, eventId });
}

/** A final frame sent here for a socket of this node; if that socket is gone, it goes on. */
async function finalHere(ctx: RelayContext, message: Extract<BusMessage, { kind: 'app-final' }>): Promise<void> {
  const final = finalOf(message);
  if (await finalTo(ctx, { connId: message.connId, nodeId: ctx.nodeId }, final, [], message.paced === true)) return;
  await rerouteFinal(ctx, final, message.connId, message.avoid);
}

/**
 * A message nobody heard: its node is gone, or its subscriber is deaf for the moment (its probe
 * then replaces it within two beats). A final frame must still reach the app, so it goes to
 * another connection or the outbox. An event for an agent socket is sent again a few times
 * over two node TTLs: a deaf node gets it once it hears again (a copy it already has is ignored),
 * and a dead node's events are handed back when it is reaped. The rest can be dropped: tokens
 * are recorded (the final brings a lost tail, a resume replays them), and cancels for a dead
 * node's agent sockets are moot once it is reaped.
 */
export function undelivered(ctx: RelayContext, deadNode: string, message: BusMessage, redeliveries: Redeliveries): void {
  if (message.kind === 'deliver') return redeliveries.later(deadNode, message);
  if (message.kind !== 'app-final') return;
  ctx.log.warn({ dead_node: deadNode, event_id: message.eventId }, 'final frame for a node that is gone; routing it again');
  const avoid = [...(message.avoid ?? []), deadNode];
  const final = finalOf(message);
  ctx.track('final', rerouteFinal(ctx, final, message.connId, avoid));
}

/** Beats in two node TTLs: the longest a node can stay deaf without being given up for dead. */
const DELIVER_TRIES = 6;

export interface Redeliveries {
  /** Sends an event nobody heard to its agent socket's node again, a beat from now. */
  later(node: string, message: Extract<BusMessage, { kind: 'deliver' }>): void;
  /** The node is draining: what is still to be sent again is left to the nodes that take over. */
  stop(): void;
}

export function createRedeliveries(ctx: RelayContext): Redeliveries {
  const timers = new Set<NodeJS.Timeout>();
  let stopped = false;
  return {
    later(node, message) {
      const tries = (message.tries ?? 0) + 1;
      if (stopped || tries > DELIVER_TRIES) return;
      // once per event: a dead node's events are each tried several times until it is reaped
      if (tries === 1) ctx.log.warn({ to_node: node, event_id: message.assignment.eventId }, 'event for an agent socket that nobody heard; sending it again');
      const timer = setTimeout(() => {
        timers.delete(timer);
        ctx.backend.bus.publish(node, { ...message, tries });
      }, beatInterval(ctx.limits.nodeTtlMs));
      timers.add(timer);
    },
    stop() {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  };
}

/** The final an `app-final` message carries, to hand on. */
function finalOf(message: Extract<BusMessage, { kind: 'app-final' }>): FinalForApp {
  return { appId: message.appId, eventId: message.eventId, text: message.text, stream: message.stream };
}
