import type { Accepting } from './accepting';
import { createAcceptTurns, type AcceptTurns } from './accept-turns';
import { createDeliveryOrder, type DeliveryOrder } from './delivery-order';
import type { Logger } from 'pino';
import { createActivityRecorder, type ActivityRecorder } from '../activity/recorder';
import type { Backend, EventRecord, TimelineEntry } from '../ports';
import type { Connection } from './connection';
import type { Metrics } from './metrics';
import { createOwedWork, type OwedWork } from './owed-work';
import { createRecentKeys, type RecentKeys } from './recent-keys';
import type { OutboxFlushes } from './finals';
import type { StreamGate } from './resume';
import { gatherInTurn } from '../turn-end';

/** Enough let-go deliveries to outlast any resend's bus message, in a few hundred KB at most. */
const LET_GO_KEPT = 10_000;

/** A node's beat (liveness, probes, resends): three per node TTL, so one late beat is not yet a lapse. */
export function beatInterval(nodeTtlMs: number): number {
  return Math.max(100, Math.floor(nodeTtlMs / 3));
}

export interface RelayLimits {
  replyTimeoutMs: number;
  maxTtlMs: number;
  finalRetentionMs: number;
  idempotencyTtlMs: number;
  /** Liveness: this node refreshes its key three times per TTL; others reap it after one. */
  nodeTtlMs: number;
  /** How long an event's timeline is kept after its latest step. */
  timelineRetentionMs: number;
  /** Bytes of token text one attempt records at most (RELAY_STREAM_MAX_BYTES). */
  streamMaxBytes: number;
  /** A webhook try that has not answered 2xx by then failed (RELAY_WEBHOOK_TIMEOUT_MS). */
  webhookTimeoutMs: number;
  /** Failed webhook tries are tried again for this long after the first, then given up (RELAY_WEBHOOK_RETRY_MS). */
  webhookRetryMs: number;
}

/** An event written to an agent socket on this node and not yet answered. */
export interface InFlight {
  event: EventRecord;
  connId: string;
  attempt: number;
  /** The start of this event's token frames (outbound.ts appTokenHead). */
  tokenHead: string;
  /** Token frames relayed so far (the next token's seq). */
  tokens: number;
  /** Bytes of token text recorded for resume so far (capped at streamMaxBytes). */
  recordedBytes: number;
  /** Set once the reply arrived, so later tokens for it are refused. */
  answered: boolean;
  timer: NodeJS.Timeout;
}

export interface ContextOptions {
  nodeId: string;
  backend: Backend;
  log: Logger;
  metrics: Metrics;
  limits: RelayLimits;
}

/**
 * What the parts of the core share: the node's sockets, its in-flight events, the ports, and the
 * background work they start. The relay (sockets) and the admin operations are built on one.
 */
export interface RelayContext extends ContextOptions {
  /** Sockets on this node, by connection id. */
  local: Map<string, Connection>;
  inFlight: Map<string, InFlight>;
  /** Frames for events whose `accepted` is not yet out, by event id (accepting.ts). */
  accepting: Accepting;
  /** What app sockets' events accepted at once keep in order (accept-turns.ts). */
  acceptTurns: AcceptTurns;
  /**
   * Deliveries (event and attempt) this node wrote and has since let go of (answered, ended or
   * handed back). A resend's copy of the same assignment (DeliveryQueue.enqueue reports an
   * in-flight event again) can reach this node after the reply: it must not write it again.
   */
  letGo: RecentKeys;
  /** Keeps each agent connection's events in the order the queue assigned them (delivery-order.ts). */
  deliveryOrder: DeliveryOrder;
  /** Where each event's stream stands on this node's app connections, by connection and event id (resume.ts). */
  gates: Map<string, Map<string, StreamGate>>;
  /** Resumes waiting for the event's holder to switch, by `<connId> <eventId>` (resume.ts). */
  switches: Map<string, () => void>;
  /** Outboxes being handed to this node's app connections, by connection id (finals.ts). */
  outboxFlushes: OutboxFlushes;
  /** What the Dashboard shows: the event path's hooks only count, in memory (lifecycle.ts). */
  activity: ActivityRecorder;
  /** Steps the backend refused while it was down, retried once it is back (owed-work.ts). */
  owed: OwedWork;
  /** Runs background work: failures are logged and counted, never thrown at a socket. */
  track(task: string, work: Promise<unknown>): void;
  /** Adds a step to an event's timeline in the background: the event never waits for it. */
  note(eventId: string, entry: TimelineEntry): void;
  /** Resolves once no tracked work is left, including work started while it waited. */
  settled(): Promise<void>;
}

export function createContext(options: ContextOptions): RelayContext {
  const { backend, log, metrics, limits } = options;
  const pending = new Set<Promise<unknown>>();
  const track = (task: string, work: Promise<unknown>) => {
    // One `then` for both outcomes: every token frame is tracked, on both nodes.
    const p: Promise<unknown> = work.then(
      () => pending.delete(p),
      (err: unknown) => {
        pending.delete(p);
        metrics.backgroundErrors.inc({ task });
        log.error({ err, task }, 'background work failed');
      },
    );
    pending.add(p);
  };
  // Steps noted in one turn of the event loop are written together, per event: an event
  // accepted and delivered at once writes both in one RPUSH (issue 13). Each event's write is
  // tracked on its own, so a failure is counted once per event.
  const noteInTurn = gatherInTurn<{ eventId: string; entry: TimelineEntry }>(async (notes) => {
    const byEvent = new Map<string, TimelineEntry[]>();
    for (const { eventId, entry } of notes) {
      const steps = byEvent.get(eventId);
      if (steps) steps.push(entry);
      else byEvent.set(eventId, [entry]);
    }
    for (const [eventId, steps] of byEvent) track('timeline', backend.events.note(eventId, steps, limits.timelineRetentionMs));
  });
  return {
    ...options,
    local: new Map(),
    inFlight: new Map(),
    accepting: new Map(),
    acceptTurns: createAcceptTurns(),
    letGo: createRecentKeys(LET_GO_KEPT),
    deliveryOrder: createDeliveryOrder({
      counted: (outcome) => metrics.deliveriesHeld.inc({ outcome }),
      failed: (err) => {
        metrics.backgroundErrors.inc({ task: 'deliver' });
        log.error({ err }, 'writing an event that waited for an earlier one failed');
      },
    }),
    gates: new Map(),
    switches: new Map(),
    outboxFlushes: new Map(),
    activity: createActivityRecorder(backend.activity, {
      onError(err) {
        metrics.backgroundErrors.inc({ task: 'activity' });
        log.warn({ err }, 'activity batch not written; the Dashboard misses it');
      },
    }),
    owed: createOwedWork({
      ready: () => backend.ready(),
      intervalMs: Math.min(1_000, beatInterval(limits.nodeTtlMs)),
      failed(fields, err) {
        metrics.backgroundErrors.inc({ task: fields.step });
        log.warn({ err, ...fields }, 'the backend refused a step; retrying it when the backend is ready');
      },
      track: (work) => track('owed', work),
    }),
    track,
    note(eventId, entry) {
      track('timeline', noteInTurn({ eventId, entry })); // tracked from now, so `settled` waits for it
    },
    async settled() {
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
  };
}
