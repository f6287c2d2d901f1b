import { CloseCode, ErrorCode, sseTokenId } from '@relay/protocol';
import type { Principal } from '../ports';
import type { Connection, UnflushedFinal } from '../relay/connection';
import { errorFrame, finalOnWire } from '../relay/outbound';
import { NOSNIFF } from './http';
import { sendJsonText, statusOfError } from './http-answer';
import type { BufferLimits } from './socket-connection';
import type { HttpResponse } from './uws';

export interface SseOptions extends BufferLimits {
  /** A `: keepalive` comment after this long without a write (RELAY_SSE_KEEPALIVE_MS). */
  keepaliveMs: number;
}

export interface SseHooks {
  /** The reader fell past the buffer limit, as for a socket's 1013. */
  onOverflow(stream: SseStream): void;
  /** The answer's status is decided (200 once the stream starts), for metrics. */
  onAnswer(status: number): void;
  /** The stream is over; `unflushed`: finals written to it that may not have reached the reader. */
  onEnd(stream: SseStream, unflushed: UnflushedFinal[]): void;
}

/** `{"type":"x",…`: every frame the relay writes starts so (outbound.ts). */
const TYPE_OF = /^\{"type":"(\w+)"/;
/** appTokenFrame ends with these two. */
const TOKEN_PLACE = /"seq":(\d+),"attempt":(\d+)\}$/;

/**
 * One SSE response of the HTTP API as a Connection of role app (PROTOCOL.md, "HTTP API"): the
 * frames of its one event become SSE events, `event:` the frame's type, token events with
 * `id: <attempt>.<seq>`. Until the first frame nothing is written: an `error` first is answered
 * as a plain HTTP error with its status, and `resumed` (a resume's go-ahead, not an SSE event of
 * its own) or `accepted` starts the stream. The stream ends after the final frame.
 *
 * A slow reader is treated like a slow socket: past `tokenDropBytes` waiting, tokens are dropped
 * (the reader gets them back by resuming with Last-Event-ID); past `maxBufferedBytes` the stream
 * is closed and its unsent final handed back. Once uWS reports backpressure, later writes wait
 * here until it can take more, so the limits count them (uWS says only whether it is backed up,
 * not by how much).
 */
export class SseStream implements Connection {
  readonly role = 'app';
  readonly channel = 'http';
  private state: 'pending' | 'open' | 'ending' | 'ended' = 'pending';
  /** SSE text waiting for uWS to take it. */
  private waiting: string[] = [];
  private waitingBytes = 0;
  /** uWS's buffer held bytes after the last write: at most this many. */
  private backlog = 0;
  /** The final frame written to this stream. */
  private final: UnflushedFinal | undefined;
  private drainListeners: (() => void)[] = [];
  private keepalive: NodeJS.Timeout | undefined;
  private lastWrite = Date.now();

  constructor(
    private readonly res: HttpResponse,
    readonly id: string,
    readonly principal: Principal,
    readonly since: number,
    private readonly options: SseOptions,
    private readonly hooks: SseHooks,
  ) {
    res.onAborted(() => this.ended(this.final && this.waitingBytes + this.backlog > 0 ? [this.final] : []));
    res.onWritable(() => {
      this.flush();
      return true;
    });
  }

  send(text: string, kind: 'token' | 'control'): boolean {
    if (this.state === 'ending' || this.state === 'ended') return false;
    const type = TYPE_OF.exec(text)?.[1] ?? 'message';
    if (this.state === 'pending') {
      if (type === 'error') {
        this.answer(statusOfError(text), text);
        return true;
      }
      this.open();
    }
    if (type === 'resumed') return true;
    const buffered = this.waitingBytes + this.backlog;
    if (kind === 'token' && buffered > this.options.tokenDropBytes) return false;
    if (buffered > this.options.maxBufferedBytes) {
      this.hooks.onOverflow(this);
      this.close(CloseCode.OVERLOADED, 'Not reading fast enough');
      return false;
    }
    this.write(sseEvent(type, text));
    // An error ends the stream, final or not (a store failure mid-resume, say): the reader
    // resumes with Last-Event-ID.
    if (type === 'error') this.finish();
    return true;
  }

  sendFinal(eventId: string, text: string): boolean {
    if (this.final?.eventId === eventId) return true;
    if (this.final !== undefined || !this.send(finalOnWire(text), 'control')) return false;
    this.final = { eventId, text };
    this.finish();
    return true;
  }

  hasSentFinal(eventId: string): boolean {
    return this.final?.eventId === eventId;
  }

  backedUp(): boolean {
    return this.state !== 'ended' && this.waitingBytes + this.backlog > this.options.tokenDropBytes;
  }

  whenDrained(listener: () => void): void {
    if (this.state === 'ended') return;
    if (!this.backedUp()) setImmediate(listener);
    else this.drainListeners.push(listener);
  }

  close(code: number, reason: string): void {
    if (this.state === 'pending') return this.answer(503, errorFrame(ErrorCode.RELAY_UNAVAILABLE, reason));
    if (this.state === 'ended') return;
    if (code === CloseCode.OVERLOADED) {
      // not reading: what waits would never leave
      this.ended(this.final ? [this.final] : []);
      this.res.close();
      return;
    }
    this.finish();
  }

  private open(): void {
    this.state = 'open';
    this.hooks.onAnswer(200);
    this.res.cork(() =>
      this.res
        .writeStatus('200 OK')
        .writeHeader('content-type', 'text/event-stream')
        .writeHeader('cache-control', 'no-cache')
        .writeHeader('x-content-type-options', NOSNIFF)
        // nginx buffers answers unless told not to: a stream must not wait in a proxy
        .writeHeader('x-accel-buffering', 'no')
        // uWS sends the head with the first bytes of the body: a stream with nothing to say yet
        // must still be answered at once
        .write(': stream\n\n'),
    );
    this.keepalive = setInterval(
      () => {
        if (Date.now() - this.lastWrite >= this.options.keepaliveMs) this.write(': keepalive\n\n');
      },
      Math.max(1, Math.floor(this.options.keepaliveMs / 2)),
    );
  }

  /** A plain HTTP answer instead of a stream. */
  private answer(status: number, text: string): void {
    this.res.cork(() => sendJsonText(this.res, status, text));
    this.hooks.onAnswer(status);
    this.ended([]);
  }

  private write(chunk: string): void {
    this.lastWrite = Date.now();
    if (this.backlog > 0 || this.waiting.length > 0) {
      this.waiting.push(chunk);
      this.waitingBytes += chunk.length;
      return;
    }
    this.backlog = this.writeNow(chunk);
  }

  /** Writes to uWS; returns how many bytes it may still hold. */
  private writeNow(chunk: string): number {
    let ok = true;
    this.res.cork(() => {
      ok = this.res.write(chunk);
    });
    return ok ? 0 : chunk.length;
  }

  /** uWS can take more: what waits goes, in one write. */
  private flush(): void {
    if (this.state === 'ended') return;
    if (this.waiting.length === 0) {
      this.backlog = 0; // uWS drains its own buffer right after this callback
    } else {
      const chunk = this.waiting.join('');
      this.waiting = [];
      this.waitingBytes = 0;
      this.backlog = this.writeNow(chunk);
    }
    if (this.state === 'ending') this.finish();
    if (this.drainListeners.length > 0 && !this.backedUp()) {
      const listeners = this.drainListeners;
      this.drainListeners = [];
      setImmediate(() => listeners.forEach((listener) => listener()));
    }
  }

  /** Ends the response once everything written has gone to uWS. */
  private finish(): void {
    if (this.state === 'pending' || this.state === 'ended') return;
    this.state = 'ending';
    if (this.waiting.length > 0) return; // flush() comes back here
    this.ended([]);
    this.res.cork(() => this.res.end());
  }

  private ended(unflushed: UnflushedFinal[]): void {
    if (this.state === 'ended') return;
    this.state = 'ended';
    clearInterval(this.keepalive);
    this.waiting = [];
    this.waitingBytes = 0;
    this.drainListeners = [];
    this.hooks.onEnd(this, unflushed);
  }
}

/** One SSE event; `data:` lines split where the frame has line breaks (a payload's own whitespace). */
export function sseEvent(type: string, frame: string): string {
  let id = '';
  if (type === 'token') {
    const place = TOKEN_PLACE.exec(frame);
    const { attempt, seq } = place
      ? { attempt: Number(place[2]), seq: Number(place[1]) }
      : (JSON.parse(frame) as { attempt: number; seq: number });
    id = `id: ${sseTokenId(attempt, seq)}\n`;
  }
  const data = /[\r\n]/.test(frame) ? frame.split(/\r\n|\r|\n/).map((line) => `data: ${line}\n`).join('') : `data: ${frame}\n`;
  return `event: ${type}\n${id}${data}\n`;
}

