import type { AcceptedFrame, AppReplyFrame } from '@relay/protocol';
import { ErrorCode, RelayError } from './errors';
import { TokenStream, type StreamedToken } from './token-stream';

/** How an event ended: the agent's reply, or a final error (EVENT_EXPIRED, AGENT_TIMEOUT, CANCELLED). */
export type FinalOutcome = { eventId: string } & ({ ok: true; reply: AppReplyFrame } | { ok: false; error: RelayError });

/**
 * An accepted event. `tokens` streams the agent's answer as it is written; `reply` settles once,
 * with the final reply (also when the agent reports `finish_reason: "error"`: check it) or
 * rejects with the final error as a {@link RelayError} (code EVENT_EXPIRED, AGENT_TIMEOUT,
 * CANCELLED, or CLOSED when the client was closed first). An ignored `reply` never causes an
 * unhandled rejection.
 */
export interface EventHandle {
  readonly eventId: string;
  /** The relay's `accepted` frame (session_key, queued, …). */
  readonly accepted: AcceptedFrame;
  readonly tokens: AsyncIterable<StreamedToken>;
  readonly reply: Promise<AppReplyFrame>;
  /**
   * Asks the relay to cancel the event. Resolves true once it ended as CANCELLED (then `reply`
   * rejects with code CANCELLED and the agent's handler sees its AbortSignal fire), false if it
   * had already ended otherwise.
   */
  cancel(): Promise<boolean>;
}

/** The client's side of a handle: how frames reach it. */
export class EventHandleImpl implements EventHandle {
  readonly tokens = new TokenStream();
  readonly reply: Promise<AppReplyFrame>;
  settled = false;
  private resolveReply!: (reply: AppReplyFrame) => void;
  private rejectReply!: (error: RelayError) => void;

  constructor(
    readonly accepted: AcceptedFrame,
    private readonly requestCancel: (handle: EventHandleImpl) => Promise<boolean>,
  ) {
    this.reply = new Promise((resolve, reject) => {
      this.resolveReply = resolve;
      this.rejectReply = reject;
    });
    // The caller may only care about the tokens, or nothing at all: a final error must not
    // become an unhandled rejection that ends a Node process.
    this.reply.catch(() => undefined);
  }

  get eventId(): string {
    return this.accepted.event_id;
  }

  cancel(): Promise<boolean> {
    if (this.settled) return Promise.resolve(false);
    return this.requestCancel(this);
  }

  /** A resume was sent and its `resumed` has not come yet: tokens wait for the replay (app-client.ts). */
  replaying = false;

  /** The latest token taken: a resume asks for what follows it. */
  last: { attempt: number; seq: number } | undefined;

  /** Takes a token unless it is one already taken or of an older delivery (a resume may repeat some). */
  token(text: string, seq: number, attempt: number): void {
    const last = this.last;
    if (last && (attempt < last.attempt || (attempt === last.attempt && seq <= last.seq))) return;
    this.last = { attempt, seq };
    this.tokens.push({ text, seq, attempt });
  }

  settle(outcome: FinalOutcome): void {
    if (this.settled) return;
    this.settled = true;
    this.tokens.end();
    if (outcome.ok) this.resolveReply(outcome.reply);
    else this.rejectReply(outcome.error);
  }

  /** Whether the event ended as CANCELLED (for cancel()). */
  async endedCancelled(): Promise<boolean> {
    try {
      await this.reply;
      return false;
    } catch (err) {
      return err instanceof RelayError && err.code === ErrorCode.CANCELLED;
    }
  }
}
