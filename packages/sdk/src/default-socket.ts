import type { TokenPlacement, WebSocketConstructor } from './socket';

// Node: the `ws` package, loaded only when no WebSocket class was passed in, so that `ws` stays
// an optional peer dependency. The browser build replaces this file with
// default-socket.browser.ts (package.json "browser" field), which never mentions `ws`.
declare const require: (id: string) => unknown;

/** The WebSocket class to use when none is given, and where it can put the token. */
export function defaultWebSocket(): { WebSocket: WebSocketConstructor; tokenIn: TokenPlacement } {
  let ws: unknown;
  try {
    ws = require('ws');
  } catch (err) {
    const global = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (global) return { WebSocket: global, tokenIn: 'query' };
    throw new Error(
      `@relay/sdk needs a WebSocket: install the "ws" package or pass options.WebSocket (${(err as Error).message})`,
    );
  }
  return { WebSocket: ws as WebSocketConstructor, tokenIn: 'header' };
}
