import { ErrorCode, type FrameError } from '@relay/protocol';
import type { Connection } from './connection';
import type { RelayContext } from './context';
import { errorFrame } from './outbound';
import { RelayError } from './relay-error';

/** What a frame's ref and event_id are, for an error about it to echo. */
export interface Echo {
  ref?: string | undefined;
  event_id?: string | undefined;
}

/**
 * The error frame for work on a frame that failed: a RelayError says which protocol error it
 * is; anything else is the relay's fault, logged, and answered RELAY_UNAVAILABLE so the client
 * retries with backoff.
 */
export function rejectFrame(ctx: RelayContext, conn: Connection, err: unknown, echo: Echo): void {
  if (err instanceof RelayError) {
    sendError(ctx, conn, { code: err.code, message: err.message, ...echo, ...(err.eventId ? { event_id: err.eventId } : {}) });
    return;
  }
  ctx.log.error({ err, conn: conn.id }, 'frame handling failed');
  sendError(ctx, conn, { code: ErrorCode.RELAY_UNAVAILABLE, message: 'Relay could not handle this frame; retry with backoff', ...echo });
}

/** Writes one error frame and counts it by role and code. */
export function sendError(ctx: RelayContext, conn: Connection, error: FrameError): void {
  ctx.metrics.framesRejected.inc({ role: conn.role, code: error.code });
  conn.send(errorFrame(error.code, error.message, { event_id: error.event_id, ref: error.ref, details: error.details }), 'control');
}
