import { HTTP_STATUS_OF, RETRY_AFTER_STATUSES, type ErrorCode } from '@relay/protocol';
import { NOSNIFF, statusLine } from './http';
import type { HttpResponse } from './uws';

/**
 * How long a client told 429 or 503 waits before trying again, in seconds: the rate limiter's
 * window slides and a store outage is retried with backoff anyway, so a short, fixed hint.
 */
const RETRY_AFTER_S = '1';

/** Writes a JSON answer whose body is ready-made text (a frame). Call inside `res.cork` when not in the request's own callback. */
export function sendJsonText(res: HttpResponse, status: number, text: string): void {
  res.writeStatus(statusLine(status)).writeHeader('content-type', 'application/json').writeHeader('x-content-type-options', NOSNIFF);
  if (RETRY_AFTER_STATUSES.has(status)) res.writeHeader('retry-after', RETRY_AFTER_S);
  res.end(text);
}

/** The HTTP status an `error` frame answers with (PROTOCOL.md, "HTTP API"). */
export function statusOfError(frame: string): number {
  const code = (JSON.parse(frame) as { code: ErrorCode }).code;
  return HTTP_STATUS_OF[code] ?? 500;
}
