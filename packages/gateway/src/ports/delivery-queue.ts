/** One event placed in the queue of its agent. */
export interface QueueEntry {
  eventId: string;
  agentId: string;
  sessionKey: string;
  /** The event's accept order for its agent (EventStore.nextOrder). */
  order: number;
  /** Not delivered before this instant (rate limiting); 0 for at once. */
  notBefore: number;
  /** Not delivered after this instant; reported back as expired instead. */
  expiresAt: number;
}

/** An event handed to one agent connection. `attempt` is 1 for the first delivery. */
export interface Assignment {
  eventId: string;
  agentId: string;
  connId: string;
  nodeId: string;
  attempt: number;
  /**
   * The connection's count of assignments, this one included (1 for its first). Assignments
   * to one connection are written out by whichever node made them, so they can reach its node
   * out of order; that node writes them in this order (relay/delivery-order.ts).
   */
  seq: number;
}

export interface DispatchResult {
  assigned: Assignment[];
  /**
   * Waiting events found past their expiresAt, already removed from the queue: those the
   * dispatch met on its way (the first of a session that could move or whose hold ended). The
   * others are left to the event's scheduled expiry, so a dispatch never reads every waiting event.
   */
  expired: string[];
}

export interface AgentConnectionSlot {
  connId: string;
  nodeId: string;
  /** How many unanswered events this connection may hold at once. */
  maxInFlight: number;
}

/**
 * Which agent connection gets which event, and when. Every method that can free or add capacity
 * assigns what can go at once and returns those assignments; the caller writes them out.
 *
 * Guarantees, per agent:
 * - events of one session are assigned in accept order (`order`), never overtaking each other,
 *   including events handed back by `detach` and events held back by `notBefore`;
 * - while a connection holding a session is attached, that session's events go to it;
 *   a session with no live holder goes to the attached connection with the fewest in flight;
 * - no connection holds more than its `maxInFlight`;
 * - an event handed back by `detach` is assigned again with `attempt` + 1;
 * - each connection's assignments are numbered 1, 2, 3… (`seq`) in the order they were made.
 *
 * Cost: an operation costs O(log n) per event it assigns or expires (n events waiting), plus
 * the connections of the agent; events that wait behind a full holder or a hold are not read.
 */
export interface DeliveryQueue {
  /**
   * Adds the event and assigns what can go. An event already in the queue is not added again;
   * if it is in flight, it is reported among `assigned` again (same connection, attempt and seq), as
   * its first sending may have been lost with the node that assigned it. The node holding that
   * connection writes an event to it once, however often it is sent there.
   */
  enqueue(entry: QueueEntry): Promise<DispatchResult>;
  /**
   * `enqueue`, only while the event `after` is in the queue (waiting or in flight), all in one
   * step; else nothing is done and it resolves with null. Lets one session's events be queued
   * one after another without waiting for each other's replies: a queueing sent after the one
   * before it is refused if that one has not been queued (its queueing failed, or ran late).
   */
  enqueueAfter(entry: QueueEntry, after: string): Promise<DispatchResult | null>;
  attach(agentId: string, slot: AgentConnectionSlot): Promise<DispatchResult>;
  /** The connection is gone: its unanswered events go back to the queue, ahead of later ones. */
  detach(agentId: string, connId: string): Promise<DispatchResult>;
  /**
   * The connection holding this event failed to deliver it (an HTTP agent's request failed):
   * the event goes back among the waiting ones at its accept order, not to be assigned before
   * `notBefore`, so its session's later events keep waiting behind it; the next assignment is
   * `attempt` + 1. Nothing happens unless `connId` holds it. Freed capacity is assigned at once.
   */
  retryLater(agentId: string, connId: string, eventId: string, notBefore: number): Promise<DispatchResult>;
  /**
   * Takes the event out of the queue, wherever it is. With `onlyIfWaiting`, an event already
   * assigned stays where it is. Says where it was; freed capacity is assigned at once.
   */
  remove(agentId: string, eventId: string, onlyIfWaiting: boolean): Promise<Removal>;
  /** Assigns waiting events whose `notBefore` has passed, and reports expired ones. */
  pump(agentId: string): Promise<DispatchResult>;
  /** Every event in this agent's queue, waiting or in flight, in no particular order. */
  events(agentId: string): Promise<string[]>;
  /** Events waiting for this agent (not yet assigned). */
  waiting(agentId: string): Promise<number>;
  /** The connection holding the event in flight; null while it waits or once it has left the queue. */
  holder(agentId: string, eventId: string): Promise<string | null>;
  /** How many times the event has been assigned to a connection; 0 before the first, or once it has left the queue. */
  attempts(agentId: string, eventId: string): Promise<number>;
  /**
   * Drops everything the queue keeps for the agent (on Redis, every key under the agent's hash
   * tag, the event store's accept-order counter included), for an agent that was deleted, once
   * its events have ended: nothing of it outlives it.
   */
  forget(agentId: string): Promise<void>;
}

/** Where a removed event was (null: not in the queue), the connection that held it, and what its removal freed. */
export type Removal = { was: 'waiting' | 'in-flight' | null; connId?: string } & DispatchResult;
