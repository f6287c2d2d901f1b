import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Backend, Bus } from '../ports';

/** From a few milliseconds to an hour: events can wait for an offline agent. */
const EVENT_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];
/** A hop through the bus and back: sub-millisecond when well, seconds when not. */
/** A webhook try: a local receiver answers in milliseconds, a slow one up to the timeout (10 s by default). */
const WEBHOOK_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const HOP_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * The node's Prometheus series. Label values are bounded: roles, protocol codes, reasons, bus
 * message kinds, and agent ids (few, configured) — never event, thread or connection ids.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const counter = (name: string, help: string, labelNames: string[] = []) =>
    new Counter({ name, help, labelNames, registers: [registry] });
  const histogram = (name: string, help: string, buckets: number[], labelNames: string[] = []) =>
    new Histogram({ name, help, buckets, labelNames, registers: [registry] });
  /**
   * A counter bumped once per token. prom-client's `inc` hashes the label set on every call (a
   * child from `labels()` too), which showed in node profiles at a relayed token's rate; `tally`
   * adds to a plain number instead, and the sums go into the series whenever it is read
   * (prom-client runs `collect` on every scrape and every `get()`), so a reader sees them all.
   */
  const tallied = (name: string, help: string, labelName?: string) => {
    const pending = new Map<string, number>();
    const series = new Counter({
      name,
      help,
      labelNames: labelName ? [labelName] : [],
      registers: [registry],
      collect() {
        for (const [value, n] of pending) {
          if (labelName) this.inc({ [labelName]: value }, n);
          else this.inc(n);
        }
        pending.clear();
      },
    });
    return Object.assign(series, {
      tally(value = '') {
        pending.set(value, (pending.get(value) ?? 0) + 1);
      },
    });
  };
  return {
    registry,
    connections: new Gauge({ name: 'relay_connections', help: 'Open WebSocket connections', labelNames: ['role'], registers: [registry] }),
    upgradesRejected: counter('relay_upgrades_rejected_total', 'WebSocket upgrades refused', ['reason']),
    framesRejected: counter('relay_frames_rejected_total', 'Inbound frames answered with an error', ['role', 'code']),
    eventsAccepted: counter('relay_events_accepted_total', 'Events recorded and acknowledged', ['agent']),
    eventsFinished: counter('relay_events_finished_total', 'Events ended, by outcome', ['outcome']),
    deliveries: counter('relay_deliveries_total', 'Events written to an agent socket', ['attempt']),
    deliveriesHeld: counter(
      'relay_deliveries_held_total',
      "Events that reached their agent connection's node before an event assigned to that connection earlier, held until it was written (filled) or for at most a second (gave_up)",
      ['outcome'],
    ),
    deliveryLatency: histogram(
      'relay_delivery_latency_seconds',
      'From an event accepted to its writing to an agent socket, every attempt',
      EVENT_SECONDS,
    ),
    timeToFirstToken: histogram(
      'relay_time_to_first_token_seconds',
      'From an event accepted to the first token of a delivery of it reaching its relay node',
      EVENT_SECONDS,
      ['agent'],
    ),
    timeToReply: histogram('relay_time_to_reply_seconds', "From an event accepted to its agent's reply ending it", EVENT_SECONDS, ['agent']),
    tokensRelayed: tallied('relay_tokens_relayed_total', 'Token frames written to app sockets'),
    tokensDropped: counter('relay_tokens_dropped_total', 'Token frames not written', ['reason']),
    tokensUnrecorded: counter('relay_tokens_unrecorded_total', 'Tokens relayed live but not recorded for resume', ['reason']),
    tokensRefilled: counter('relay_tokens_refilled_total', 'Recorded tokens written in place of live frames that went astray: a gap, or the tail before the final'),
    finalsHeld: counter('relay_finals_held_total', "Final frames kept in an app's outbox: for its next connection, or behind the backlog of one still taking it"),
    finalsDropped: counter('relay_finals_dropped_total', 'Held final frames dropped past the per-app cap or retention'),
    backpressureCloses: counter('relay_backpressure_closes_total', 'Sockets closed for not reading (1013)', ['role']),
    backgroundErrors: counter('relay_background_errors_total', 'Failures in background work', ['task']),
    httpRequests: counter('relay_http_requests_total', 'HTTP API requests answered, by route and HTTP status', ['route', 'status']),
    sseStreams: new Gauge({ name: 'relay_sse_streams', help: 'Open SSE streams of the HTTP API', registers: [registry] }),
    adminRequests: counter('relay_admin_requests_total', 'Admin API requests answered, by method and HTTP status', ['method', 'status']),
    adminUnauthorized: counter('relay_admin_unauthorized_total', 'Admin API requests refused for a missing or wrong admin token'),
    busPublished: tallied('relay_bus_published_total', 'Messages this node sent to a node (itself included) over the bus', 'kind'),
    busReceived: tallied('relay_bus_received_total', 'Messages this node received over the bus', 'kind'),
    busRoundtrip: histogram('relay_bus_roundtrip_seconds', "The liveness probe's trip through this node's own bus channel", HOP_SECONDS),
    webhookDeliveries: counter(
      'relay_webhook_deliveries_total',
      "Tries to POST a final to its app's webhook: delivered (2xx), failed (tried again later), gave_up (past RELAY_WEBHOOK_RETRY_MS, or the webhook was removed)",
      ['outcome'],
    ),
    webhookDuration: histogram('relay_webhook_duration_seconds', 'How long a webhook try took, to its answer or its timeout', WEBHOOK_SECONDS, ['outcome']),
    agentWebhookDeliveries: counter(
      'relay_agent_webhook_deliveries_total',
      "Events POSTed to HTTP agents' webhooks, by outcome: reply, stream, later (202), or why it failed",
      ['agent', 'outcome'],
    ),
    agentWebhookLatency: histogram(
      'relay_agent_webhook_request_seconds',
      "From an event POSTed to an HTTP agent's webhook to the answer's status line",
      EVENT_SECONDS,
      ['agent'],
    ),
    agentWebhookFirstLine: histogram(
      'relay_agent_webhook_first_line_seconds',
      "From an event POSTed to an HTTP agent's webhook to the first NDJSON line of its answer",
      EVENT_SECONDS,
      ['agent'],
    ),
    busResubscribes: counter('relay_bus_resubscribes_total', 'Bus subscriptions made afresh after a probe did not return'),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * `relay_events_waiting{agent}`: events accepted and not yet assigned to an agent connection,
 * read from `source` at each scrape. On Redis the queue is the cluster's, so every node reports
 * the same figure (aggregate with `max`, not `sum`).
 */
export function watchQueueDepth(metrics: Metrics, source: () => Promise<Map<string, number> | null>): void {
  const gauge = new Gauge({
    name: 'relay_events_waiting',
    help: 'Events waiting for a connection of their agent (cluster-wide: the same on every node)',
    labelNames: ['agent'],
    registers: [metrics.registry],
    async collect() {
      // From scratch each time: a deleted agent's series goes, and nothing stale stays while
      // the backend cannot be read (relay_redis_up says why)
      gauge.reset();
      const depths = await source();
      for (const [agent, waiting] of depths ?? []) gauge.set({ agent }, waiting);
    },
  });
}

/** Events waiting per configured agent; null when the backend cannot be read now. */
export async function queueDepths(backend: Backend): Promise<Map<string, number> | null> {
  if (!backend.ready()) return null;
  try {
    const agents = await backend.registry.agents();
    return new Map(await Promise.all(agents.map(async (a) => [a.id, await backend.queue.waiting(a.id)] as const)));
  } catch {
    return null; // a scrape must not fail with the backend
  }
}

/** The bus, counting what goes through it. */
export function countedBus(bus: Bus, metrics: Metrics): Bus {
  return {
    publish(nodeId, message) {
      metrics.busPublished.tally(message.kind);
      return bus.publish(nodeId, message);
    },
    subscribe(nodeId, handler) {
      return bus.subscribe(nodeId, (message) => {
        metrics.busReceived.tally(message.kind);
        handler(message);
      });
    },
    onUndelivered: (handler) => bus.onUndelivered(handler),
    resubscribe: () => bus.resubscribe(),
    close: () => bus.close(),
  };
}
