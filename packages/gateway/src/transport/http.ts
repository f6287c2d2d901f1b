import type { HttpResponse } from './uws';

const STATUS_LINES: Record<number, string> = {
  200: '200 OK',
  201: '201 Created',
  202: '202 Accepted',
  301: '301 Moved Permanently',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  409: '409 Conflict',
  413: '413 Payload Too Large',
  426: '426 Upgrade Required',
  429: '429 Too Many Requests',
  500: '500 Internal Server Error',
  503: '503 Service Unavailable',
};

export function statusLine(status: number): string {
  return STATUS_LINES[status] ?? `${status} Error`;
}

/**
 * On every answer the node makes itself: a browser must never guess another type than the one
 * named (an admin answer that echoes a name must not be read as HTML or script).
 */
export const NOSNIFF = 'nosniff';

/** Writes a whole JSON answer. Call inside `res.cork` when not in the request's own callback. */
export function sendJson(res: HttpResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeStatus(statusLine(status)).writeHeader('content-type', 'application/json').writeHeader('x-content-type-options', NOSNIFF);
  for (const [name, value] of Object.entries(headers)) res.writeHeader(name, value);
  res.end(JSON.stringify(body));
}

/**
 * Reads a request body up to `maxBytes`. Resolves to the bytes, or to null when the body was
 * larger (the rest is ignored). uWS lends each chunk only for the callback, so each is copied.
 */
export function readBody(res: HttpResponse, maxBytes: number): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    res.onData((chunk, isLast) => {
      if (!tooLarge) {
        size += chunk.byteLength;
        if (size > maxBytes) tooLarge = true;
        else chunks.push(Buffer.from(new Uint8Array(chunk)));
      }
      if (isLast) resolve(tooLarge ? null : Buffer.concat(chunks));
    });
  });
}

/** The token of an `Authorization: Bearer <token>` header, if that is what it is. */
export function bearer(header: string): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}
