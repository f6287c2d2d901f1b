import type { Role } from '@relay/protocol';

/** A piece of work the core wants done later, even if the node that asked is gone by then. */
export type Task =
  | { kind: 'expire'; agentId: string; eventId: string }
  /**
   * Pumps the agent's queue once rate-held events become due. One task per agent and due time:
   * a single task per agent would keep only the earliest time, and events held for a later
   * window would then wait until something else happened to the queue.
   */
  | { kind: 'release'; agentId: string; notBefore: number }
  /**
   * While an agent has events waiting, its queue is pumped again with exponential backoff: a
   * safety net for a dispatch that was lost (say, its node died mid-way). An agent that connects
   * gets its events at once from `attach`, never by waiting for this.
   */
  | { kind: 'retry'; agentId: string; attempt: number }
  /** A rotated token's grace is over: it is removed, and its sockets on every node closed. */
  | { kind: 'token-expiry'; role: Role; principalId: string; tokenId: string }
  /**
   * One try to POST an event's final frame to its app's webhook (relay/webhooks.ts). The task
   * carries the frame: an ended event's record is kept only for RELAY_FINISHED_RETENTION_MS,
   * and tries go on for RELAY_WEBHOOK_RETRY_MS after `firstAt`.
   */
  | { kind: 'webhook'; appId: string; eventId: string; attempt: number; firstAt: number; body: string };

/**
 * A task's identity: scheduling the same task twice keeps one. It doubles as the BullMQ job id,
 * which must not contain ':' (event and agent ids never do).
 */
export function taskId(task: Task): string {
  switch (task.kind) {
    case 'expire':
      return `expire-${task.eventId}`;
    case 'release':
      return `release-${task.agentId}-${task.notBefore}`;
    case 'retry':
      return `retry-${task.agentId}-${task.attempt}`;
    case 'token-expiry':
      return `token-expiry-${task.tokenId}`;
    case 'webhook':
      return `webhook-${task.eventId}-${task.attempt}`;
  }
}

/**
 * Runs tasks at (or soon after) a given time. Each task runs at least once; the core's handlers
 * are idempotent, so a task run twice does no harm.
 */
export interface Scheduler {
  /** Schedules the task; if the same task (same kind and id) is already due earlier, keeps that. */
  at(time: number, task: Task): Promise<void>;
  /** Drops the task if it has not run; a task no longer needed need not wait to run. */
  cancel(task: Task): Promise<void>;
  /** Installs the handler; tasks due before it is set wait for it. */
  onDue(handler: (task: Task) => Promise<void>): void;
  /** Stops running tasks here; resolves once those already running have ended. */
  close(): Promise<void>;
}
