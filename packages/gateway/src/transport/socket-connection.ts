import { CloseCode, type Role } from '@relay/protocol';
import type { Principal } from '../ports';
import type { Connection, UnflushedFinal } from '../relay/connection';
import { finalOnWire } from '../relay/outbound';
import type { WebSocket } from './uws';
import { atTurnEnd } from '../turn-end';

export interface SocketData {
  role: Role;
  principal: Principal;
  connId: string;
  since: number;
  conn?: SocketConnection;
}

/** Final frames remembered per socket: memory stays bounded, and resends come soon after a reconnect. */
const SENT_FINALS_KEPT = 4_096;

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
  readonly channel = 'socket';
  private closed = false;
  /** Final frames written since the send buffer was last empty: not known to have left. */
  private unflushed: UnflushedFinal[] = [];
  /**
   * Events whose final this socket was written, the latest SENT_FINALS_KEPT of them: a resend
   * of one of these is not answered with its final again (see answerResend).
   */
  private sentFinals = new Set<string>();
  private drainListeners: (() => void)[] = [];
  /**
   * Frames accepted in this turn of the event loop, written together when it ends (turn-end.ts):
   * one cork, so one write to the kernel per socket per turn instead of one per frame. Tokens
   * from the bus arrive many to a Redis message, and the replies to many events' Redis steps
   * arrive in one read: written one by one, those writes were the largest cost on the app's
   * node (docs/benchmarks.md). Not at the next microtask: each event's frame comes a few
   * promise continuations after the one before, so that wrote about one frame a write.
   */
  private queued: string[] = [];
  private queuedBytes = 0;
  /** The finals among `queued`: not written yet, so not known to have left either. */
  private queuedFinals: UnflushedFinal[] = [];
  private readonly writeQueued = (): void => {
    if (this.closed || this.queued.length === 0) return;
    this.ws.cork(() => this.sendQueued());
  };

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
    return this.enqueue(text, kind);
  }

  /** `final`: the final frame `text` carries, known to have left only once the buffer empties. */
  private enqueue(text: string, kind: 'token' | 'control', final?: UnflushedFinal): boolean {
    if (this.closed) return false;
    const buffered = this.ws.getBufferedAmount() + this.queuedBytes;
    if (kind === 'token' && buffered > this.limits.tokenDropBytes) return false;
    // The limit is on bytes the reader has left waiting, not on the frame at hand: a reader that
    // keeps up must get a reply larger than the limit (up to two agent frames' worth) rather
    // than be closed for it, again on every reconnect. Memory per socket stays below the limit
    // plus one frame.
    if (buffered > this.limits.maxBufferedBytes) {
      this.onOverflow(this);
      this.close(CloseCode.OVERLOADED, 'Not reading fast enough');
      return false;
    }
    if (this.queued.push(text) === 1) atTurnEnd(this.writeQueued);
    this.queuedBytes += text.length;
    if (final) this.queuedFinals.push(final);
    // Large frames gain nothing by waiting for the turn's end, and must not: several written in
    // one turn (an outbox's piece) would pass the limits above unwritten, though the kernel
    // might take them all. Written now, what it does not take shows in the buffered amount.
    if (this.queuedBytes > this.limits.tokenDropBytes) this.writeQueued();
    return true;
  }

  /** Writes the queued frames, in order; call inside a cork. */
  private sendQueued(): void {
    if (this.queued.length === 0) return;
    const frames = this.queued;
    this.queued = [];
    this.queuedBytes = 0;
    for (const frame of frames) this.ws.send(frame, false, false);
    if (this.ws.getBufferedAmount() === 0) this.unflushed.length = 0;
    else this.unflushed.push(...this.queuedFinals);
    this.queuedFinals = [];
    // A caller that waited on frames only queued: uWS took them without backing up, so it will
    // send no drain for them.
    this.releaseDrainListeners();
  }

  sendFinal(eventId: string, text: string): boolean {
    // Several paths may carry one final to the same socket (a resend, a resume, the outbox, the
    // live hand-on, racing after a reconnect): the socket writes it once.
    if (this.sentFinals.has(eventId)) return true;
    if (!this.enqueue(finalOnWire(text), 'control', { eventId, text })) return false;
    this.sentFinals.add(eventId);
    if (this.sentFinals.size > SENT_FINALS_KEPT) this.sentFinals.delete(this.sentFinals.values().next().value as string);
    return true;
  }

  hasSentFinal(eventId: string): boolean {
    return this.sentFinals.has(eventId);
  }

  /** Frames queued in this turn count: a caller writing several in one turn sees them at once. */
  backedUp(): boolean {
    return !this.closed && this.ws.getBufferedAmount() + this.queuedBytes > this.limits.tokenDropBytes;
  }

  whenDrained(listener: () => void): void {
    if (this.closed) return;
    // The buffer may have drained while the caller was away (re-queuing to Redis takes real
    // time): uWS will not call drain again for a buffer that is no longer backed up.
    if (!this.backedUp()) setImmediate(listener);
    else this.drainListeners.push(listener);
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.writeQueued();
    this.ws.end(code, reason);
  }

  /** uWS wrote out some of the socket's buffer. Empty: everything written so far has left. */
  drained(): void {
    if (this.closed) return;
    if (this.ws.getBufferedAmount() === 0) this.unflushed.length = 0;
    this.releaseDrainListeners();
  }

  private releaseDrainListeners(): void {
    if (this.drainListeners.length === 0 || this.backedUp()) return;
    const listeners = this.drainListeners;
    this.drainListeners = [];
    // Not from inside uWS's drain callback: a write made there (or in the microtasks that run
    // as it returns) that backs up again is never drained, as uWS has already decided to stop
    // polling the socket for writability. The next turn of the loop is outside it.
    setImmediate(() => {
      for (const listener of listeners) listener();
    });
  }

  /** Called once from uWS's close handler; returns the finals that may not have arrived. */
  markClosed(): UnflushedFinal[] {
    this.closed = true;
    this.drainListeners = [];
    this.queued = [];
    this.queuedBytes = 0;
    const unflushed = [...this.unflushed, ...this.queuedFinals];
    this.unflushed = [];
    this.queuedFinals = [];
    return unflushed;
  }
}
