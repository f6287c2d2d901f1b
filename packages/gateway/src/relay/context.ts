import type { Logger } from 'pino';
import type { ActivityRecorder } from '../activity/recorder';
import type { Backend, DispatchResult, EventRecord, TimelineEntry } from '../ports';
import type { Connection } from './connection';
import type { Metrics } from './metrics';

export interface RelayLimits {
  replyTimeoutMs: number;
  maxTtlMs: number;
  finalRetentionMs: number;
  idempotencyTtlMs: number;
  /** Liveness: this node refreshes its key three times per TTL; others reap it after one. */
  nodeTtlMs: number;
  /** How long an event's timeline is kept after its latest step (default 1 h). */
  timelineRetentionMs?: number;
}

/** An event written to an agent socket on this node and not yet answered. */
export interface InFlight {
  event: EventRecord;
  connId: string;
  attempt: number;
  /** Token frames relayed so far (the next token's seq). */
  tokens: number;
  /** Set once the reply arrived, so later tokens for it are refused. */
  answered: boolean;
  timer: NodeJS.Timeout;
}

/** What the parts of the core share: the node's sockets, its in-flight events, and the ports. */
export interface RelayContext {
  nodeId: string;
  backend: Backend;
  log: Logger;
  metrics: Metrics;
  /** What the Dashboard shows: the event path's hooks only count, in memory. */
  activity: ActivityRecorder;
  limits: RelayLimits;
  /** Sockets on this node, by connection id. */
  local: Map<string, Connection>;
  inFlight: Map<string, InFlight>;
  /** Runs background work: failures are logged and counted, never thrown at a socket. */
  track(task: string, work: Promise<unknown>): void;
  /** Adds a step to an event's timeline in the background: the event never waits for it. */
  note(eventId: string, entry: TimelineEntry): void;
  /** Writes out what a queue operation assigned and ends what it found expired. */
  dispatched(result: DispatchResult): Promise<void>;
}
