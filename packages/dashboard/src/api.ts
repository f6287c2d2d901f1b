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
  status: 'online' | 'offline';
  connections: number;
  waiting: number;
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
