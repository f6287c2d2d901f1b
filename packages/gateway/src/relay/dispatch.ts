import { ErrorCode } from '@relay/protocol';
import type { DispatchResult } from '../ports';
import type { RelayContext } from './context';
import { deliverAssignment } from './delivery';
import { finishWithError } from './lifecycle';

/**
 * Writes out what a queue operation assigned and ends what it found expired. The queue has
 * already assigned these (or taken them out, expired): if writing or ending one fails, it is
 * owed, not dropped, and the rest still go.
 */
export async function dispatched(ctx: RelayContext, result: DispatchResult): Promise<void> {
  for (const assignment of result.assigned) {
    const fields = { step: 'deliver', event_id: assignment.eventId, conn: assignment.connId } as const;
    await ctx.owed.run(fields, () => deliverAssignment(ctx, assignment));
  }
  for (const eventId of result.expired) {
    await ctx.owed.run({ step: 'expire', event_id: eventId }, async () => {
      await finishWithError(ctx, eventId, ErrorCode.EVENT_EXPIRED);
    });
  }
}
