import WebSocket from 'ws';
import type { WebSocketConstructor } from '@relay/sdk';
import type { Frame } from '../../support/client';

/**
 * A `ws` WebSocket class, passed to the SDK as `options.WebSocket`, that records every frame the
 * relay sends on any socket the client opens: the ground truth for "arrived exactly once".
 */
export function recordingWebSocket(): { WebSocket: WebSocketConstructor; received: Frame[]; sockets: WebSocket[] } {
  const received: Frame[] = [];
  const sockets: WebSocket[] = [];
  class Recording extends WebSocket {
    constructor(url: string, protocols: string[], options?: WebSocket.ClientOptions) {
      super(url, protocols, options);
      sockets.push(this);
      this.on('message', (data) => received.push(JSON.parse(data.toString()) as Frame));
    }
  }
  return { WebSocket: Recording, received, sockets };
}
