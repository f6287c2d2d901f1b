/** How long streams are kept and how large one may grow. */
export interface TokenStreamOptions {
  /** How long an event's stream is kept after its final is decided (RELAY_STREAM_RETENTION_MS). */
  retentionMs: number;
  /**
   * How long a stream with no final yet is kept after its latest token. Longer than the reply
   * timeout: an event whose agent is silent that long gets its final (AGENT_TIMEOUT), and from
   * then `retentionMs` counts. So a stream is never dropped before its event's final, and a
   * stream abandoned by a dead node (its attempt redelivered) still goes.
   */
  liveTtlMs: number;
}

export const DEFAULT_TOKEN_STREAMS: TokenStreamOptions = { retentionMs: 600_000, liveTtlMs: 720_000 };

/**
 * The recorded token streams of events, one per attempt (a redelivery starts a new one), so any
 * node can replay an event's answer to an app that lost part of it (`resume`).
 *
 * Guarantee: writes (`begin`, `append`, `ended`) are queued synchronously, in call order, and
 * take effect in that order; a read issued after `flushed()` resolved sees every write queued
 * before it was called. A write the store could not make (Redis down) is retried ahead of every
 * later write, so what a reader sees is always a prefix of each attempt's stream, never a stream
 * with a gap. What a node queued and died before writing is lost with it: its agent sockets die
 * with it, so that attempt is abandoned and the event redelivered.
 */
export interface TokenStreams {
  /**
   * Attempt `attempt` of the event was delivered: it is now the event's current attempt. A store
   * may leave a first attempt to be named by the first token it records or by the event's end
   * (one Redis primary: `Backend.finishAndRemove`); until then `attempt` answers null.
   */
  begin(eventId: string, agentId: string, attempt: number): void;
  /**
   * Records token `seq` of the attempt (0, 1, 2 … with no gap). The caller bounds how much one
   * attempt records (lifecycle.ts tokenRelayed, RELAY_STREAM_MAX_BYTES).
   */
  append(eventId: string, agentId: string, attempt: number, seq: number, token: string): void;
  /** The event's final was decided: its stream is kept `retentionMs` from now. */
  ended(eventId: string, agentId: string): void;
  /**
   * Resolves once every write queued before the call has been made. With `failFast`, rejects
   * instead as soon as the store refuses one of them (they are still retried), so a caller that
   * must not wait out an outage, like an agent's reply, gets RELAY_UNAVAILABLE.
   */
  flushed(failFast?: boolean): Promise<void>;
  /**
   * Resolves once every write queued before the call has been sent to the store, ahead of any
   * command this node sends it later: where the store runs commands in call order
   * (`Backend.runsInCallOrder`), those take effect after them. Rejects as `flushed(true)` does.
   */
  sent(): Promise<void>;
  /**
   * The event's current attempt, or null when it has no stream (never delivered, a first attempt
   * that has recorded nothing yet where `begin` leaves it unwritten, or forgotten).
   */
  attempt(eventId: string, agentId: string): Promise<number | null>;
  /** The recorded tokens of the attempt with a seq greater than `afterSeq`, in seq order. */
  read(eventId: string, agentId: string, attempt: number, afterSeq: number): Promise<string[]>;
}
