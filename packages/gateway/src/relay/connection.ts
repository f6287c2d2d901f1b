import type { Role } from '@relay/protocol';
import type { Principal } from '../ports';

/**
 * One client socket as the core sees it. The transport implements it; the core never touches
 * uWebSockets.js. Writes never block and never buffer without bound.
 */
export interface Connection {
  readonly id: string;
  readonly role: Role;
  readonly principal: Principal;
  readonly since: number;
  /**
   * `socket`: a WebSocket, in the presence lists, so any event's final may come to it and the
   * outbox is emptied into it. `http`: one HTTP request or SSE stream of the HTTP API, which takes
   * only the frames of the one event it serves (transport/http-api.ts).
   */
  readonly channel: 'socket' | 'http';
  /**
   * Writes a frame. A `token` frame is dropped (returns false) when the socket is already
   * backed up past the drop watermark; any frame to a socket that already has more than the hard
   * buffer limit waiting closes the socket with 1013 instead (returns false).
   */
  send(text: string, kind: 'token' | 'control'): boolean;
  /** More bytes wait to be sent than the drop watermark: frames that can wait should. */
  backedUp(): boolean;
  /** Calls `listener` once, when the socket is no longer backed up; never if it closes first. */
  whenDrained(listener: () => void): void;
  /**
   * Writes a final frame, given as stored (outbound.ts `finalOnWire` makes the app's frame of
   * it). Until the socket's buffer has drained, the transport remembers it, so a socket that
   * dies before flushing hands it back through `Relay.closed` to go elsewhere.
   */
  sendFinal(eventId: string, text: string): boolean;
  /** Whether this socket was written the final frame of this event (among its latest ones). */
  hasSentFinal(eventId: string): boolean;
  close(code: number, reason: string): void;
}

/** A final frame written to a socket that closed before the bytes were flushed. */
export interface UnflushedFinal {
  eventId: string;
  text: string;
}
