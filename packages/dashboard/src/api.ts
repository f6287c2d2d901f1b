/** The admin API as the page uses it: the token from sessionStorage, JSON in and out. */

const TOKEN_KEY = 'relay.adminToken';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

/** The token lives in sessionStorage only: gone when the tab closes, never in localStorage. */
export const session = {
  get: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  set: (token: string): void => sessionStorage.setItem(TOKEN_KEY, token),
  clear: (): void => sessionStorage.removeItem(TOKEN_KEY),
};

export async function api<T = any>(method: string, path: string, body?: unknown, token = session.get()): Promise<T> { // eslint-disable-line @typescript-eslint/no-explicit-any
  let res: Response;
  try {
    res = await fetch(`/v1/admin${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token ?? ''}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch {
    throw new ApiError(0, 'network', 'The relay did not answer: check that it is running and reachable');
  }
  const text = await res.text();
  let parsed: any = null; // eslint-disable-line @typescript-eslint/no-explicit-any
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null; // not JSON: reported below with the status
  }
  if (!res.ok) {
    const error = parsed?.error;
    throw new ApiError(res.status, error?.code ?? 'http_error', error?.message ?? `HTTP ${res.status}`, error?.field);
  }
  return parsed as T;
}

export interface App {
  id: string;
  name: string;
  rate_limit_per_min: number;
  hard_rate_limit_per_min: number;
  max_connections: number;
  connections: number;
  webhook_url: string | null;
  webhook_secret_set: boolean;
}

export interface Agent {
  id: string;
  name: string;
  description: string;
  allow_apps: string[];
  default_ttl_ms: number;
  max_in_flight: number;
  max_connections: number;
  max_queue: number;
  /** `http`: no socket, but a webhook the relay POSTs its events to. */
  status: 'online' | 'http' | 'offline';
  connections: number;
  waiting: number;
  webhook_url: string | null;
  webhook_secret_set: boolean;
}

/** One try to POST a final to an app's webhook (GET /v1/admin/apps/:id/webhooks). */
export interface WebhookTry {
  at: string;
  event_id: string;
  attempt: number;
  outcome: 'delivered' | 'failed' | 'gave_up';
  status: number | null;
  error: string | null;
  duration_ms: number;
  node: string;
}

export interface WebhookTries {
  app_id: string;
  webhook_url: string | null;
  webhook_secret_set: boolean;
  tries: WebhookTry[];
}

export interface Token {
  id: string;
  created_at: string;
  last_used_at: string | null;
  expires_at: string | null;
}

export interface Connection {
  role: 'app' | 'agent';
  id: string;
  node: string;
  since: string;
  connection_id: string;
  token_id: string;
}

export interface Percentiles {
  p50: number;
  p95: number;
  count: number;
}

/** GET /v1/admin/activity: the cluster's last minutes. */
export interface Overview {
  minutes: number;
  series: {
    minute: string[];
    accepted: number[];
    answered: number[];
    failed: Record<string, number[]>;
    tokens_per_s: number[];
  };
  totals: { accepted: number; answered: number; failed: Record<string, number> };
  agents: {
    agent_id: string;
    accepted: number;
    answered: number;
    failed: number;
    tokens: number;
    time_to_first_token_ms: Percentiles | null;
    time_to_reply_ms: Percentiles | null;
    waiting: number;
    in_flight: number;
    max_queue: number;
    connections: number;
  }[];
  connections: { total: number; by_app: Record<string, number>; by_agent: Record<string, number>; by_node: Record<string, number> };
}

/** One row of GET /v1/admin/activity/events: never the payload. */
export interface RecentEvent {
  event_id: string;
  app_id: string;
  agent_id: string;
  thread_id: string;
  accepted_at: string;
  state: 'waiting' | 'in_flight' | 'finished';
  outcome: string | null;
  attempt: number;
  latencies_ms: { delivered: number | null; first_token: number | null; final: number | null };
}

/** GET /v1/admin/activity/agents/:id */
export interface AgentActivity {
  agent_id: string;
  connections: { socket: Connection[]; http: unknown[] };
  waiting: number;
  in_flight: number;
  max_queue: number;
  accepted: number;
  answered: number;
  failed: Record<string, number>;
  tokens: number;
  time_to_first_token_ms: Percentiles | null;
  time_to_reply_ms: Percentiles | null;
  open_events: RecentEvent[];
  recent_failures: RecentEvent[];
  latency: { minute: string[]; first_token_p50: (number | null)[]; first_token_p95: (number | null)[]; reply_p50: (number | null)[]; reply_p95: (number | null)[] };
}
