import type { DispatchResult } from './delivery-queue';

/** What the relay records about an accepted event. The payload is kept as the app's JSON text. */
export interface EventRecord {
  id: string;
  appId: string;
  agentId: string;
  threadId: string;
  sessionKey: string;
  /** '' in a record read after the event finished: it is never delivered again, so the payload goes. */
  payloadRaw: string;
  acceptedAt: number;
  /** After this instant the event may no longer wait in the queue (EVENT_EXPIRED). */
  expiresAt: number;
  /** The app connection that sent it: tokens go there, and the final frame if it is still open. */
  appConnId: string;
  /** Whether it waited in the queue when accepted (repeated on an idempotent resend). */
  queued: boolean;
  finished: boolean;
  /**
   * Once finished, the final frame sent to the app (never with a `ref`). Kept with the record so
   * it can be sent again: to an idempotent resend (the app may have lost it with a node), and by
   * any node when the one that finished the event died before handing the frame on.
   */
  final?: string;
}

/**
 * One step in an event's life, for operators (GET /v1/admin/events/:id). Never the payload.
 * `node` is the node that took the step.
 */
export type TimelineEntry =
  | {
      at: number;
      kind: 'accepted';
      node: string;
      appId: string;
      agentId: string;
      threadId: string;
      sessionKey: string;
      expiresAt: number;
    }
  /** Waiting in the agent's queue: no connection of it could take it, or the app was over its soft rate. */
  | { at: number; kind: 'queued'; node: string; reason: 'offline' | 'rate_limited' }
  | { at: number; kind: 'delivered'; node: string; conn: string; attempt: number }
  | { at: number; kind: 'first_token'; node: string; attempt: number }
  /** `outcome`: `reply` or the final error code; `reason` says why when an operator ended it. */
  | { at: number; kind: 'final'; node: string; outcome: string; finishReason?: string; reason?: string }
  /** One try to POST the final to the app's webhook (relay/webhooks.ts). */
  | { at: number; kind: 'webhook'; node: string; attempt: number; outcome: WebhookOutcome; status?: number; error?: string };

/**
 * What became of one webhook try: `delivered` (2xx), `failed` (tried again later), `gave_up`
 * (failed past RELAY_WEBHOOK_RETRY_MS, or the app no longer has a webhook).
 */
export type WebhookOutcome = 'delivered' | 'failed' | 'gave_up';

/** Steps kept per event; the final step is kept even past it, so a timeline always shows the end. */
export const TIMELINE_MAX_STEPS = 64;

/** An event to record. */
export type NewEvent = Omit<EventRecord, 'finished' | 'queued'>;

export interface AppendResult {
  record: EventRecord;
  /** True when the idempotency key was seen before: `record` is the first event's. */
  duplicate: boolean;
  /** A new event's hold under the soft rate limit (RateDecision's `notBefore`): 0 for none. */
  notBefore: number;
  /** With an admission, a new event's accept order for its agent (QueueEntry.order), taken by `append`. */
  order?: number;
  /**
   * With an admission that allows it, where the store queued the new event in the admission's
   * own step: the dispatch `DeliveryQueue.enqueue` would have returned. Otherwise the caller
   * queues it.
   */
  queued?: DispatchResult;
}

/**
 * What an accept checks beside writing a new event's record. The event counts against its app's
 * rate budget (RateLimiter: `appId` and `acceptedAt` are the record's) unless refused; its
 * idempotency key is claimed only for an event counted (a store may claim it in the same step).
 * `append` also takes the event's accept order for its agent, as `nextOrder` does: as it is
 * called, before it first yields.
 */
export interface Admission {
  rate: { softPerMin: number; hardPerMin: number };
  /**
   * Whether the store may also queue the event in the admission's step. `null`: nothing of the
   * event's session is still to be queued ahead of it on the caller's socket. An event id: the
   * event of its session that came just before it there; once that one is in the agent's queue,
   * so is every earlier one. A store that can, queues in the step an event counted under the
   * soft limit whose key was free, when `queueAfter` is null or already in the queue (one step,
   * so under AOF one fsync, before `accepted`); any other event is left for the caller to queue.
   */
  queueAfter: string | null;
}

/**
 * The durable record of accepted events (per agent, in accept order) and idempotency keys.
 * `append` resolves only once the event is durably written: `accepted` is sent after it.
 *
 * A finished event's record (without its payload, with its final frame) is kept for the
 * backend's finished-record retention (RELAY_FINISHED_RETENTION_MS), and, if it was recorded
 * under an idempotency key, for as long as that key is remembered: a resend under the key is
 * answered from it. So memory is bounded by the key TTL, not by the number of resends.
 */
export interface EventStore {
  /**
   * Records a new event, or, when `idempotencyKey` was used by the same app within
   * `idempotencyTtlMs`, returns the event first recorded under it, also when that event has
   * ended (with its `final`). Atomic per key.
   *
   * With `admission`, the record is written at once, beside the rate check, and the key is
   * claimed (a claimed key answers resends) only once the event is counted: an event over the
   * hard limit is forgotten and `append` rejects with RateRefused. That lets an accept write the
   * record in the round trip of the checks that may still refuse the event (nobody knows the
   * new id yet), and a store claim the key in the rate check's own step, where it can. If taking
   * the order number fails, `append` rejects and the record is forgotten (a key claimed for it
   * already then names a record that is gone, which frees it).
   */
  append(event: NewEvent, idempotencyKey: string | undefined, idempotencyTtlMs: number, admission?: Admission): Promise<AppendResult>;
  /**
   * The agent's next accept order, for a new event's queue entry (QueueEntry.order): what orders
   * its queue, and so its redeliveries. The number is taken as `nextOrder` is called, before it first yields: calls
   * made one after another get increasing numbers, however their replies come back. That is what
   * lets one socket's events be accepted concurrently and still queue in the order the app sent
   * them (accept-turns.ts). A number taken for an event that is then refused is simply not used.
   */
  nextOrder(agentId: string): Promise<number>;
  /**
   * The event this app first recorded under `idempotencyKey`, if the key is still remembered at
   * `now`, ended or not. Read-only: lets a resend be answered before the limits that only new
   * events face.
   */
  findByKey(appId: string, idempotencyKey: string, now: number): Promise<EventRecord | null>;
  get(eventId: string): Promise<EventRecord | null>;
  /** Notes whether the event had to wait, for the `accepted` frame (and its idempotent repeats). */
  setQueued(eventId: string, queued: boolean): Promise<void>;
  /** Points tokens and the final frame at another connection of the same app. */
  setAppConnection(eventId: string, appConnId: string): Promise<void>;
  /**
   * Marks the event finished with its final frame. Resolves to the record only for the one call
   * that finished it (finished, with the final, without the payload, which is dropped); every
   * later call resolves to null. This is what makes the outcome
   * exactly-once. In the same step the final is noted as not yet handed on (see `finalHandedOn`).
   */
  finish(eventId: string, final: string, now: number): Promise<EventRecord | null>;
  /** The final frame is with an app connection, another node or the outbox: nobody need send it again. */
  finalHandedOn(eventId: string): Promise<void>;
  /**
   * Events whose final was noted by `finish` before `before` and is still not handed on (the
   * node that finished them died, or lost Redis, on the way), at most `limit`. Each is claimed
   * as if noted at `now`, so callers on other nodes do not take it too, and a caller that dies
   * with it leaves it to the next.
   */
  overdueFinals(before: number, now: number, limit: number): Promise<string[]>;
  /**
   * Adds steps to the event's timeline, in order, kept for `retentionMs` after its latest step
   * (longer than the record of an event sent without an idempotency key, so a finished event can
   * still be looked up). Past TIMELINE_MAX_STEPS, a step that is not a final is left out.
   */
  note(eventId: string, steps: TimelineEntry[], retentionMs: number): Promise<void>;
  /** The event's steps in the order they were noted; empty when unknown or forgotten. */
  timeline(eventId: string): Promise<TimelineEntry[]>;
}
