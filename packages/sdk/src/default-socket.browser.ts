import type { TokenPlacement, WebSocketConstructor } from './socket';

/** Browsers: the global WebSocket, with the token in the query string (no custom headers). */
export function defaultWebSocket(): { WebSocket: WebSocketConstructor; tokenIn: TokenPlacement } {
  const global = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (!global) throw new Error('@relay/sdk needs a WebSocket: this environment has none; pass options.WebSocket');
  return { WebSocket: global, tokenIn: 'query' };
}
