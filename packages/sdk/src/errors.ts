import { DEFAULT_ERROR_MESSAGES, ErrorCode, RETRYABLE_ERROR_CODES, type ErrorFrame } from '@relay/protocol';

/** Codes the SDK raises itself, for conditions that no relay frame names. */
export const ClientErrorCode = {
  /** `close()` was called before the operation finished. */
  CLOSED: 'CLOSED',
  /**
   * The relay refused the credentials: HTTP 401 at the upgrade (seen in Node only: browsers hide
   * the status) or close code 1008 (token revoked, policy). The client stops reconnecting.
   */
  UNAUTHORIZED: 'UNAUTHORIZED',
} as const;
export type ClientErrorCode = (typeof ClientErrorCode)[keyof typeof ClientErrorCode];

/** Every code a {@link RelayError} can carry: the protocol's own, or the SDK's. */
export type RelayErrorCode = ErrorCode | ClientErrorCode;

/**
 * The one error type of the SDK. `code` is the protocol's error code (or a {@link ClientErrorCode});
 * `retryable` says whether sending the same thing again later may succeed (the protocol's
 * RETRYABLE_ERROR_CODES: RATE_LIMITED, QUEUE_FULL, RELAY_UNAVAILABLE).
 */
export class RelayError extends Error {
  override readonly name = 'RelayError';
  readonly retryable: boolean;

  constructor(
    readonly code: RelayErrorCode,
    message: string = code in DEFAULT_ERROR_MESSAGES ? DEFAULT_ERROR_MESSAGES[code as ErrorCode] : code,
    /** The event this error is about, when there is one. */
    readonly eventId?: string,
    /** For INVALID_MESSAGE: which fields were wrong. */
    readonly details?: ReadonlyArray<{ path: string; message: string }>,
  ) {
    super(message);
    this.retryable = RETRYABLE_ERROR_CODES.has(code as ErrorCode);
  }

  /** The error an `error` frame from the relay stands for. */
  static fromFrame(frame: ErrorFrame): RelayError {
    return new RelayError(frame.code, frame.message, frame.event_id, frame.details);
  }
}

export { ErrorCode };
