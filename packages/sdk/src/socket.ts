/**
 * The part of a WebSocket the SDK uses. Both the browser's global `WebSocket` and the `ws`
 * package's class fit it, so either can be passed as `ClientOptions.WebSocket`.
 */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open', listener: () => void): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  addEventListener(type: 'close', listener: (event: { code: number; reason: string }) => void): void;
  addEventListener(type: 'error', listener: (event: { message?: string }) => void): void;
}

/**
 * A WebSocket class. `options.headers` is honoured by the `ws` package (Node) and ignored by
 * browsers, which is why browsers send the token in the query string instead.
 */
export type WebSocketConstructor = new (
  url: string,
  protocols: string[],
  options?: { headers?: Record<string, string> },
) => WebSocketLike;

/** How the token travels: `Authorization: Bearer` (Node) or `?token=` (browsers cannot set headers). */
export type TokenPlacement = 'header' | 'query';

/** The readyState of an open WebSocket, the same in every implementation. */
export const OPEN = 1;
