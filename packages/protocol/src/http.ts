import { z } from 'zod';
import { ErrorCode } from './codes';
import { AppEventFrame, AppReplyFrame, ErrorFrame, eventId } from './frames';
import { MAX_TOKEN_TEXT_LENGTH } from './limits';

// The HTTP API (PROTOCOL.md, "HTTP API"): request bodies and answers that are not frames, and
// the HTTP status of each error code. The answers that are frames use the frame schemas, so one
// parser serves the WebSocket and HTTP; the OpenAPI document is generated from these.

/** `POST /v1/events`: the `event` frame without `type` and `ref` (an HTTP answer needs no ref). */
export const HttpEventBody = AppEventFrame.omit({ type: true, ref: true });
export type HttpEventBody = z.infer<typeof HttpEventBody>;

/** Where an event stands, from `GET /v1/events/:event_id`. */
export const EventState = z.enum(['queued', 'delivered', 'finished']);

/** `GET /v1/events/:event_id`. */
export const EventStatus = z.object({
  event_id: eventId,
  agent_id: z.string(),
  thread_id: z.string(),
  session_key: z.string(),
  /** `queued`: waiting for an agent; `delivered`: an agent holds it; `finished`: it has its final. */
  state: EventState,
  /** The latest delivery, from 1; 0 while it was never delivered. */
  attempt: z.int().nonnegative(),
  /** The final frame (a `reply` or a final `error`) once there is one. */
  final: z.union([AppReplyFrame, ErrorFrame]).nullable(),
});
export type EventStatus = z.infer<typeof EventStatus>;

/**
 * `POST /v1/agent/events/:event_id/tokens`: what an HTTP agent that answered its event with 202
 * streams later. Each token is then checked as a socket's `token` frame would be.
 */
export const AgentTokensBody = z.object({ tokens: z.array(z.string().max(MAX_TOKEN_TEXT_LENGTH)).min(1) });
export type AgentTokensBody = z.infer<typeof AgentTokensBody>;

/** `POST /v1/events/:event_id/cancel` answers an empty object: the final follows as usual. */
export const CancelAnswer = z.object({});

/** The HTTP status of each error code an app route can answer with (401 is the token's). */
export const HTTP_STATUS_OF: Record<ErrorCode, number> = {
  [ErrorCode.INVALID_JSON]: 400,
  [ErrorCode.INVALID_MESSAGE]: 400,
  [ErrorCode.UNKNOWN_TYPE]: 400,
  [ErrorCode.ALLOWLIST_DENIED]: 403,
  [ErrorCode.AGENT_NOT_FOUND]: 404,
  [ErrorCode.UNKNOWN_EVENT]: 404,
  [ErrorCode.PAYLOAD_TOO_LARGE]: 413,
  [ErrorCode.RATE_LIMITED]: 429,
  [ErrorCode.QUEUE_FULL]: 429,
  [ErrorCode.RELAY_UNAVAILABLE]: 503,
  // finals: only ever inside a stream or a status, never an HTTP error of their own
  [ErrorCode.EVENT_EXPIRED]: 200,
  [ErrorCode.AGENT_TIMEOUT]: 200,
  [ErrorCode.CANCELLED]: 200,
};

/** The statuses that carry `Retry-After`. */
export const RETRY_AFTER_STATUSES: ReadonlySet<number> = new Set([429, 503]);

/** The SSE `id:` of a token: `<attempt>.<seq>`, which `Last-Event-ID` sends back. */
export function sseTokenId(attempt: number, seq: number): string {
  return `${attempt}.${seq}`;
}

/** A `Last-Event-ID` as `resume` fields; undefined when it is not `<attempt>.<seq>`. */
export function parseLastEventId(value: string): { attempt: number; after_seq: number } | undefined {
  const match = /^\s*(\d{1,9})\.(\d{1,9})\s*$/.exec(value);
  if (!match) return undefined;
  const attempt = Number(match[1]);
  return attempt >= 1 ? { attempt, after_seq: Number(match[2]) } : undefined;
}
