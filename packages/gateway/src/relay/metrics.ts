import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The node's Prometheus series. Label values are bounded: roles, protocol codes, reasons, and
 * agent ids (few, configured) — never event, thread or connection ids.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const counter = (name: string, help: string, labelNames: string[] = []) =>
    new Counter({ name, help, labelNames, registers: [registry] });
  return {
    registry,
    connections: new Gauge({ name: 'relay_connections', help: 'Open WebSocket connections', labelNames: ['role'], registers: [registry] }),
    upgradesRejected: counter('relay_upgrades_rejected_total', 'WebSocket upgrades refused', ['reason']),
    framesRejected: counter('relay_frames_rejected_total', 'Inbound frames answered with an error', ['role', 'code']),
    eventsAccepted: counter('relay_events_accepted_total', 'Events recorded and acknowledged', ['agent']),
    eventsFinished: counter('relay_events_finished_total', 'Events ended, by outcome', ['outcome']),
    deliveries: counter('relay_deliveries_total', 'Events written to an agent socket', ['attempt']),
    tokensRelayed: counter('relay_tokens_relayed_total', 'Token frames written to app sockets'),
    tokensDropped: counter('relay_tokens_dropped_total', 'Token frames not written', ['reason']),
    finalsHeld: counter('relay_finals_held_total', "Final frames kept for an app's next connection"),
    finalsDropped: counter('relay_finals_dropped_total', 'Held final frames dropped past the per-app cap or retention'),
    backpressureCloses: counter('relay_backpressure_closes_total', 'Sockets closed for not reading (1013)', ['role']),
    backgroundErrors: counter('relay_background_errors_total', 'Failures in background work', ['task']),
    adminRequests: counter('relay_admin_requests_total', 'Admin API requests answered, by method and HTTP status', ['method', 'status']),
    adminUnauthorized: counter('relay_admin_unauthorized_total', 'Admin API requests refused for a missing or wrong admin token'),
    busResubscribes: counter('relay_bus_resubscribes_total', 'Bus subscriptions made afresh after a probe did not return'),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
