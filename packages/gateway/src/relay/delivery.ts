import type { Assignment, EventRecord } from '../ports';
import type { RelayContext } from './context';
import { dispatched } from './dispatch';
import { eventDelivered, replyTimer } from './lifecycle';
import { agentEventFrame } from './outbound';
import { eventToAgent } from './send-to';

/** Sends an assigned event to its agent socket: here, or through the bus to the node holding it. */
export async function deliverAssignment(ctx: RelayContext, assignment: Assignment): Promise<void> {
  const event = await ctx.backend.events.get(assignment.eventId);
  if (!event || event.finished) {
    // Ended meanwhile. Its finisher takes it out of the queue, unless it died first: then it
    // would hold this connection's place for ever. Taking it out twice is harmless.
    await dispatched(ctx, await ctx.backend.queue.remove(assignment.agentId, assignment.eventId, false));
    return;
  }
  await eventToAgent(ctx, assignment, event);
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
  const text = agentEventFrame(event, assignment.attempt);
  ctx.inFlight.set(event.id, {
    event,
    connId: conn.id,
    attempt: assignment.attempt,
    tokens: 0,
    answered: false,
    timer: replyTimer(ctx, event),
  });
  if (!conn.send(text, 'control')) return;
  eventDelivered(ctx, event, conn, assignment.attempt);
}
