import type { ActivityStore } from './activity';
import type { Bus } from './bus';
import type { DeliveryQueue, Removal } from './delivery-queue';
import type { EventRecord, EventStore } from './event-store';
import type { Outbox } from './outbox';
import type { Presence } from './presence';
import type { Registry } from './registry';
import type { Scheduler } from './scheduler';
import type { TokenStreams } from './token-stream';
import type { WebhookLog } from './webhook-log';

export * from './activity';
export * from './bus';
export * from './delivery-queue';
export * from './event-store';
export * from './outbox';
export * from './presence';
export * from './rate-limiter';
export * from './registry';
export * from './scheduler';
export * from './token-stream';
export * from './webhook-log';

/** Every port the core needs, served by one backend (memory or Redis). */
export interface Backend {
  readonly name: string;
  registry: Registry;
  presence: Presence;
  events: EventStore;
  queue: DeliveryQueue;
  outbox: Outbox;
  scheduler: Scheduler;
  bus: Bus;
  /** Every event's recorded tokens, for `resume`. */
  streams: TokenStreams;
  /** What the Dashboard shows of traffic (written in batches by activity/recorder.ts). */
  activity: ActivityStore;
  /** Each app's latest webhook tries, for the Dashboard. */
  webhooks: WebhookLog;
  /**
   * Whether the store carries out this node's steps in the order they are called, whatever
   * keys they touch (memory; one Redis primary, whose connection runs commands in the order they
   * are sent; not a Redis Cluster, whose keys sit on several primaries). Where it does, a step
   * that must follow another may be sent before the other's reply: one round trip, not two.
   */
  readonly runsInCallOrder: boolean;
  /**
   * `events.finish`, then `queue.remove(agentId, eventId, false)`, as one step, where the store
   * carries out steps in call order (memory; one Redis primary, in one script). Absent on a Redis
   * Cluster, where the event's record and its agent's queue sit on different slots.
   */
  finishAndRemove?: FinishAndRemove;
  /** Whether the backend can record events right now (drives /readyz and RELAY_UNAVAILABLE). */
  ready(): boolean;
  close(): Promise<void>;
}

/**
 * Ends an event and takes it out of its agent's queue (finished or not: an event that had ended is
 * taken out too, as its finisher may have died first). If this call ended it, its expiry is
 * cancelled and its token stream is ended (`TokenStreams.ended`) in the same step. `removed` is
 * known once the step has run.
 * `finished` is what `EventStore.finish` resolves to, once the final is as durable as `finish`
 * makes it; if that fails it rejects, and the removal is done all the same: what it freed is
 * still to be handed out.
 */
export type FinishAndRemove = (
  eventId: string,
  agentId: string,
  final: string,
  now: number,
) => Promise<{ removed: Removal; finished: Promise<EventRecord | null> }>;
