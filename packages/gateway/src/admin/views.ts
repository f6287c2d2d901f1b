import type { AgentRecord, AppRecord, ConnectionInfo, EventRecord, TimelineEntry, TokenRecord, WebhookTry } from '../ports';

// What the admin API answers: snake_case, times as ISO 8601, never a payload or a token secret
// (a new token's secret is added by the operation that made it, once).

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function appView(app: AppRecord, connections: number) {
  return {
    id: app.id,
    name: app.name,
    rate_limit_per_min: app.rateLimitPerMin,
    hard_rate_limit_per_min: app.hardRateLimitPerMin,
    max_connections: app.maxConnections,
    connections,
    webhook_url: app.webhookUrl ?? null,
    webhook_secret_set: Boolean(app.webhookSecret),
  };
}

export function agentView(agent: AgentRecord, connections: number, waiting: number) {
  return {
    id: agent.id,
    name: agent.name,
    description: agent.description,
    allow_apps: agent.allowApps,
    default_ttl_ms: agent.defaultTtlMs,
    max_in_flight: agent.maxInFlight,
    max_connections: agent.maxConnections,
    max_queue: agent.maxQueue,
    // An agent without a socket but with a webhook is served over HTTP (PROTOCOL.md "Agents over HTTP").
    status: connections > 0 ? 'online' : agent.webhookUrl ? 'http' : 'offline',
    connections,
    waiting,
    webhook_url: agent.webhookUrl ?? null,
    webhook_secret_set: Boolean(agent.webhookSecret),
  };
}

/** An app's webhook and its latest tries, newest first; never the secret or a body. */
export function webhookTriesView(app: AppRecord, tries: WebhookTry[]) {
  return {
    app_id: app.id,
    webhook_url: app.webhookUrl ?? null,
    webhook_secret_set: Boolean(app.webhookSecret),
    tries: tries.map((t) => ({
      at: iso(t.at),
      event_id: t.eventId,
      attempt: t.attempt,
      outcome: t.outcome,
      status: t.status ?? null,
      error: t.error ?? null,
      duration_ms: t.durationMs,
      node: t.node,
    })),
  };
}

export function tokenView(token: TokenRecord) {
  return {
    id: token.id,
    created_at: iso(token.createdAt),
    last_used_at: iso(token.lastUsedAt),
    expires_at: iso(token.expiresAt),
  };
}

export function connectionView(conn: ConnectionInfo) {
  return {
    role: conn.role,
    id: conn.principalId,
    node: conn.nodeId,
    since: iso(conn.since),
    connection_id: conn.connId,
    token_id: conn.tokenId,
  };
}

/**
 * An event's timeline: who sent it where, and each step with the node that took it and the
 * time since `accepted` (`after_ms`). The summary latencies are to the first delivery, the
 * first token and the final frame.
 */
export function timelineView(
  eventId: string,
  record: EventRecord | null,
  steps: TimelineEntry[],
  state: 'waiting' | 'in_flight' | 'finished' | 'unknown',
) {
  const accepted = steps.find((s): s is Extract<TimelineEntry, { kind: 'accepted' }> => s.kind === 'accepted');
  const start = accepted?.at ?? record?.acceptedAt ?? steps[0]?.at ?? 0;
  const after = (kind: TimelineEntry['kind']) => {
    const step = steps.find((s) => s.kind === kind);
    return step ? step.at - start : null;
  };
  const final = steps.find((s): s is Extract<TimelineEntry, { kind: 'final' }> => s.kind === 'final');
  return {
    event_id: eventId,
    app_id: accepted?.appId ?? record?.appId ?? null,
    agent_id: accepted?.agentId ?? record?.agentId ?? null,
    thread_id: accepted?.threadId ?? record?.threadId ?? null,
    session_key: accepted?.sessionKey ?? record?.sessionKey ?? null,
    accepted_at: iso(start || null),
    expires_at: iso(accepted?.expiresAt ?? record?.expiresAt ?? null),
    state,
    outcome: final?.outcome ?? null,
    latencies_ms: { delivered: after('delivered'), first_token: after('first_token'), final: after('final') },
    steps: steps.map(({ at, kind, ...rest }) => {
      const details: Record<string, unknown> = { ...rest };
      for (const field of ['appId', 'agentId', 'threadId', 'sessionKey', 'expiresAt']) delete details[field];
      return { step: kind, at: iso(at), after_ms: at - start, ...snake(details) };
    }),
  };
}

function snake(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), v]));
}
