import { AgentReplyFrame, ErrorCode, MAX_AGENT_FRAME_BYTES, MAX_TOKEN_TEXT_LENGTH, utf8ByteLength, type AgentEventFrame, type FinishReason } from '@relay/protocol';
import { RelayError } from './errors';

/** Options of `reply.done()`. */
export interface ReplyOptions {
  /** `stop` (default) or `length` (the answer hit a token limit). */
  finishReason?: 'stop' | 'length';
  /** Passed through to the app; `tokens_used` here replaces the relay's count of token frames. */
  metadata?: Record<string, unknown>;
}

/** What `reply.done()` / `reply.fail()` return, so a handler can `return reply.done(text)`. */
export interface ReplySent {
  readonly eventId: string;
  readonly finishReason: FinishReason;
  /** False when the event had been cancelled first: nothing was sent. */
  readonly sent: boolean;
}

/**
 * How a handler answers one event. Tokens are live only (sent while the relay holds the event on
 * this client's socket, dropped otherwise); the reply is final and carries the whole answer. The
 * payload is not echoed: the relay fills in the app's original, byte for byte.
 */
export interface Reply {
  /** Fires when the app cancels the event, the relay gives up on it (AGENT_TIMEOUT), or the client closes. Its `reason` is a RelayError (CANCELLED or CLOSED). */
  readonly signal: AbortSignal;
  /** Streams one piece of the answer (split into several frames past the protocol's 16 KiB per token). */
  token(text: string): void;
  /** Sends the final answer. Throws if a reply was already sent, or PAYLOAD_TOO_LARGE past the frame limit. */
  done(content: string, options?: ReplyOptions): ReplySent;
  /** Ends the event with `finish_reason: "error"` and this message. */
  fail(message: string, metadata?: Record<string, unknown>): ReplySent;
}

/** Where a Reply's frames go; the agent client decides whether a frame can be sent now. */
export interface ReplySink {
  token(eventId: string, text: string): void;
  reply(eventId: string, text: string): void;
}

/** The Reply given to one run of the handler. */
export class ReplyImpl implements Reply {
  replied = false;

  constructor(
    private readonly event: AgentEventFrame,
    readonly signal: AbortSignal,
    private readonly sink: ReplySink,
  ) {}

  token(text: string): void {
    if (this.replied || this.signal.aborted) return;
    for (let i = 0; i < text.length; i += MAX_TOKEN_TEXT_LENGTH) {
      this.sink.token(this.event.event_id, text.slice(i, i + MAX_TOKEN_TEXT_LENGTH));
    }
  }

  done(content: string, options: ReplyOptions = {}): ReplySent {
    return this.send({
      content,
      finish_reason: options.finishReason ?? 'stop',
      ...(options.metadata ? { metadata: options.metadata } : {}),
    });
  }

  fail(message: string, metadata?: Record<string, unknown>): ReplySent {
    return this.send({ content: null, finish_reason: 'error', error: message, ...(metadata ? { metadata } : {}) });
  }

  private send(fields: { content: string | null; finish_reason: FinishReason; error?: string; metadata?: Record<string, unknown> }): ReplySent {
    const eventId = this.event.event_id;
    if (this.replied) throw new Error(`event ${eventId} already has a reply`);
    if (this.signal.aborted) return { eventId, finishReason: fields.finish_reason, sent: false };
    const frame = { type: 'reply' as const, event_id: eventId, ...fields };
    const check = AgentReplyFrame.safeParse(frame);
    if (!check.success) throw new RelayError(ErrorCode.INVALID_MESSAGE, `Invalid reply: ${check.error.message}`, eventId);
    const text = JSON.stringify(frame);
    // The relay closes a socket that sends a frame past its limit (1009): the event would come
    // back and the same reply would be sent again, for ever.
    if (utf8ByteLength(text) > MAX_AGENT_FRAME_BYTES) {
      throw new RelayError(ErrorCode.PAYLOAD_TOO_LARGE, `Reply is over ${MAX_AGENT_FRAME_BYTES} bytes`, eventId);
    }
    this.replied = true;
    this.sink.reply(eventId, text);
    return { eventId, finishReason: fields.finish_reason, sent: true };
  }
}
