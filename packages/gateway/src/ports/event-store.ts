/** What the relay records about an accepted event. The payload is kept as the app's JSON text. */
export interface EventRecord {
  id: string;
  appId: string;
  agentId: string;
  threadId: string;
  sessionKey: string;
  payloadRaw: string;
  acceptedAt: number;
  /** After this instant the event may no longer wait in the queue (EVENT_EXPIRED). */
  expiresAt: number;
  /** Position in the agent's accept order; increases with every event accepted for that agent. */
  order: number;
  /** The app connection that sent it: tokens go there, and the final frame if it is still open. */
  appConnId: string;
  /** Whether it waited in the queue when accepted (repeated on an idempotent resend). */
  queued: boolean;
  finished: boolean;
}

export type NewEvent = Omit<EventRecord, 'order' | 'finished' | 'queued'>;

export interface AppendResult {
  record: EventRecord;
  /** True when the idempotency key was seen before: `record` is the first event's. */
  duplicate: boolean;
}

/**
 * The durable record of accepted events (per agent, in accept order) and idempotency keys.
 * `append` resolves only once the event is durably written: `accepted` is sent after it.
 */
export interface EventStore {
  /**
   * Records a new event, or, when `idempotencyKey` was used by the same app within
   * `idempotencyTtlMs`, returns the event first recorded under it. Atomic per key.
   */
  append(event: NewEvent, idempotencyKey: string | undefined, idempotencyTtlMs: number): Promise<AppendResult>;
  /**
   * The event this app first recorded under `idempotencyKey`, if the key is still remembered at
   * `now`. Read-only: lets a resend be answered before the limits that only new events face.
   */
  findByKey(appId: string, idempotencyKey: string, now: number): Promise<EventRecord | null>;
  get(eventId: string): Promise<EventRecord | null>;
  /** Notes whether the event had to wait, for the `accepted` frame (and its idempotent repeats). */
  setQueued(eventId: string, queued: boolean): Promise<void>;
  /** Points tokens and the final frame at another connection of the same app. */
  setAppConnection(eventId: string, appConnId: string): Promise<void>;
  /**
   * Marks the event finished. Resolves to the record only for the one call that finished it;
   * every later call resolves to null. This is what makes the final frame exactly-once.
   */
  finish(eventId: string): Promise<EventRecord | null>;
}
