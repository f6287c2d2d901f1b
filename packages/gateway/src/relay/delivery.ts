import { ErrorCode } from '@relay/protocol';
import type { Assignment, DispatchResult, EventRecord } from '../ports';
import type { RelayContext } from './context';
import { finishWithError } from './lifecycle';
import { eventToAgent } from './send-to';

/**
 * Writes out what a queue operation assigned and ends what it found expired. The queue has
 * already assigned these (or taken them out, expired): if writing or ending one fails, it is
 * owed, not dropped, and the rest still go. `justRecorded` is the event this node has just
 * recorded and queued: delivered as written, not read back (a retry of an owed step reads it).
 */
export async function dispatched(ctx: RelayContext, result: DispatchResult, justRecorded?: EventRecord): Promise<void> {
  for (const assignment of result.assigned) {
    const fields = { step: 'deliver', event_id: assignment.eventId, conn: assignment.connId } as const;
    let known = justRecorded?.id === assignment.eventId ? justRecorded : undefined;
    await ctx.owed.run(fields, () => {
      const event = known;
      known = undefined;
      return deliverAssignment(ctx, assignment, event);
    });
  }
  for (const eventId of result.expired) {
    await ctx.owed.run({ step: 'expire', event_id: eventId }, async () => {
      await finishWithError(ctx, eventId, ErrorCode.EVENT_EXPIRED);
    });
  }
}

/** Sends an assigned event to its agent socket: here, or through the bus to the node holding it. */
async function deliverAssignment(ctx: RelayContext, assignment: Assignment, known?: EventRecord): Promise<void> {
  const event = known ?? (await ctx.backend.events.get(assignment.eventId));
  if (!event || event.finished) {
    // Ended meanwhile. Its finisher takes it out of the queue, unless it died first: then it
    // would hold this connection's place for ever. Taking it out twice is harmless. Its place in
    // the connection's order is passed, so later events do not wait for it.
    await eventToAgent(ctx, assignment, null);
    await dispatched(ctx, await ctx.backend.queue.remove(assignment.agentId, assignment.eventId, false));
    return;
  }
  await eventToAgent(ctx, assignment, event);
}
