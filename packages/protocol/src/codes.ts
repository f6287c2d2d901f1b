/**
 * Error codes of protocol v1. Each entry says whether the frame that caused it may be retried
 * as it is (after a delay), and whether it is a *final* frame for an accepted event.
 */
export const ErrorCode = {
  INVALID_JSON: 'INVALID_JSON',
  INVALID_MESSAGE: 'INVALID_MESSAGE',
  UNKNOWN_TYPE: 'UNKNOWN_TYPE',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  AGENT_NOT_FOUND: 'AGENT_NOT_FOUND',
  ALLOWLIST_DENIED: 'ALLOWLIST_DENIED',
  RATE_LIMITED: 'RATE_LIMITED',
  QUEUE_FULL: 'QUEUE_FULL',
  UNKNOWN_EVENT: 'UNKNOWN_EVENT',
  EVENT_EXPIRED: 'EVENT_EXPIRED',
  AGENT_TIMEOUT: 'AGENT_TIMEOUT',
  CANCELLED: 'CANCELLED',
  RELAY_UNAVAILABLE: 'RELAY_UNAVAILABLE',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export const ERROR_CODES = Object.values(ErrorCode) as [ErrorCode, ...ErrorCode[]];

/** Codes that end an accepted event: the app receives exactly one final frame per event. */
export const FINAL_ERROR_CODES: ReadonlySet<ErrorCode> = new Set([
  ErrorCode.EVENT_EXPIRED,
  ErrorCode.AGENT_TIMEOUT,
  ErrorCode.CANCELLED,
]);

/** Codes where the same frame may succeed later, so a client should retry with backoff. */
export const RETRYABLE_ERROR_CODES: ReadonlySet<ErrorCode> = new Set([
  ErrorCode.RATE_LIMITED,
  ErrorCode.QUEUE_FULL,
  ErrorCode.RELAY_UNAVAILABLE,
]);

export const DEFAULT_ERROR_MESSAGES: Record<ErrorCode, string> = {
  INVALID_JSON: 'Frame is not valid JSON',
  INVALID_MESSAGE: 'Frame does not match the protocol schema',
  UNKNOWN_TYPE: 'Unknown frame type for this role',
  PAYLOAD_TOO_LARGE: 'Payload exceeds 64000 bytes',
  AGENT_NOT_FOUND: 'No such agent',
  ALLOWLIST_DENIED: 'App is not allowlisted for this agent',
  RATE_LIMITED: 'Rate limit exceeded',
  QUEUE_FULL: "The agent's offline queue is full",
  UNKNOWN_EVENT: 'Unknown event',
  EVENT_EXPIRED: 'Event expired before the agent answered it',
  AGENT_TIMEOUT: 'The agent did not reply in time',
  CANCELLED: 'Event cancelled',
  RELAY_UNAVAILABLE: 'Relay cannot record events right now; retry with backoff',
};

/**
 * WebSocket close codes. 1001 and 1013 mean "reconnect" (to any node, 1013 after a delay);
 * 1008 and 1009 mean "do not reconnect with the same credentials or frame".
 */
export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  POLICY: 1008,
  TOO_LARGE: 1009,
  INTERNAL: 1011,
  OVERLOADED: 1013,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];
