import { CloseCode, type Role } from '@relay/protocol';
import type { Principal } from '../ports';
import type { Connection, UnflushedFinal } from '../relay/connection';
import type { WebSocket } from './uws';

export interface SocketData {
  role: Role;
  principal: Principal;
  connId: string;
  since: number;
  conn?: SocketConnection;
}

export interface BufferLimits {
  /** Token frames are dropped while more than this many bytes wait to be sent. */
  tokenDropBytes: number;
  /** Past this many waiting bytes the socket is closed with 1013. */
  maxBufferedBytes: number;
}

/**
 * A uWS socket behind the core's Connection interface. Memory per socket is bounded by
 * `maxBufferedBytes`: a reader that falls that far behind is disconnected, and the final frames
 * it had not yet received are handed back to be delivered elsewhere.
 */
export class SocketConnection implements Connection {
  readonly id: string;
  readonly role: Role;
  readonly principal: Principal;
  readonly since: number;
  private closed = false;
  /** Final frames written since the send buffer was last empty: not known to have left. */
  private unflushed: UnflushedFinal[] = [];

  constructor(
    private readonly ws: WebSocket<SocketData>,
    data: SocketData,
    private readonly limits: BufferLimits,
    private readonly onOverflow: (conn: SocketConnection) => void,
  ) {
    this.id = data.connId;
    this.role = data.role;
    this.principal = data.principal;
    this.since = data.since;
  }

  send(text: string, kind: 'token' | 'control'): boolean {
    if (this.closed) return false;
    const buffered = this.ws.getBufferedAmount();
    if (kind === 'token' && buffered > this.limits.tokenDropBytes) return false;
    if (buffered + text.length > this.limits.maxBufferedBytes) {
      this.onOverflow(this);
      this.close(CloseCode.OVERLOADED, 'Not reading fast enough');
      return false;
    }
    this.ws.cork(() => this.ws.send(text, false, false));
    if (this.ws.getBufferedAmount() === 0) this.unflushed.length = 0;
    return true;
  }

  sendFinal(eventId: string, text: string): boolean {
    if (!this.send(text, 'control')) return false;
    if (this.ws.getBufferedAmount() > 0) this.unflushed.push({ eventId, text });
    return true;
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.ws.end(code, reason);
  }

  /** The socket's buffer emptied: everything written so far has left. */
  drained(): void {
    if (!this.closed && this.ws.getBufferedAmount() === 0) this.unflushed.length = 0;
  }

  /** Called once from uWS's close handler; returns the finals that may not have arrived. */
  markClosed(): UnflushedFinal[] {
    this.closed = true;
    const unflushed = this.unflushed;
    this.unflushed = [];
    return unflushed;
  }
}
