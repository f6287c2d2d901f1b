import { DEFAULT_ERROR_MESSAGES, RETRYABLE_ERROR_CODES, type ErrorCode } from '@relay/protocol';

/** A protocol error raised by the core; the frame handler turns it into an `error` frame. */
export class RelayError extends Error {
  readonly retryable: boolean;
  constructor(
    readonly code: ErrorCode,
    message: string = DEFAULT_ERROR_MESSAGES[code],
    readonly eventId?: string,
  ) {
    super(message);
    this.retryable = RETRYABLE_ERROR_CODES.has(code);
  }
}
