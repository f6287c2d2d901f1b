import { hostname } from 'node:os';
import { DEFAULT_ACTIVITY } from './ports/activity';

/**
 * Every environment variable the gateway reads, with its default and meaning. This table is the
 * one source of truth: config parsing, `relay --help`, `.env.example` and the docs follow it.
 */
export const ENV = {
  PORT: { default: '8080', help: 'TCP port for WebSockets and HTTP (0 picks a free port)' },
  HOST: { default: '0.0.0.0', help: 'Address to listen on' },
  REDIS_URL: { default: '', help: 'Redis URL; unset means the in-memory backend (one node, not durable)' },
  RELAY_REDIS_PREFIX: { default: 'relay', help: 'Prefix of every Redis key, so several relays can share one Redis' },
  RELAY_NODE_TTL_MS: { default: '10000', help: "A node silent this long is dead: its agents' unanswered events are redelivered" },
  RELAY_NODE_ID: { default: '', help: 'Name of this node in logs and presence (default: hostname)' },
  RELAY_CONFIG: { default: '', help: 'Path to the registry file (JSON or YAML) of apps and agents' },
  RELAY_REGISTRY_MODE: {
    default: '',
    help: 'file: RELAY_CONFIG is the whole registry at every start, the admin API only reads it; admin: RELAY_CONFIG seeds an empty registry once, then the admin API changes it (default: file with RELAY_CONFIG, else admin)',
  },
  RELAY_ADMIN_TOKEN: {
    default: '',
    help: 'Bearer token (16+ characters) for the admin API /v1/admin/ and the Dashboard /dashboard; unset turns both off',
  },
  RELAY_TIMELINE_RETENTION_MS: { default: '3600000', help: "How long an event's timeline (GET /v1/admin/events/:id) is kept after its last step" },
  RELAY_ACTIVITY_RETENTION_MS: {
    default: String(DEFAULT_ACTIVITY.retentionMs),
    help: "How long the Dashboard's per-minute traffic counts and recent events are kept",
  },
  RELAY_RECENT_EVENTS_MAX: {
    default: String(DEFAULT_ACTIVITY.maxEvents),
    help: "Recent events (ids, state, latencies; never payloads) the Dashboard's list keeps at most, cluster-wide",
  },
  LOG_LEVEL: { default: 'info', help: 'pino level: trace, debug, info, warn, error, fatal, silent' },
  RELAY_SHUTDOWN_GRACE_MS: { default: '10000', help: 'How long SIGTERM may take before the node exits anyway' },
  RELAY_IDLE_TIMEOUT_S: { default: '60', help: 'Close sockets silent this long; protocol pings keep live ones open' },
  RELAY_REPLY_TIMEOUT_MS: { default: '120000', help: 'AGENT_TIMEOUT after an agent holds an event this long without a token or reply' },
  RELAY_DEFAULT_TTL_MS: { default: '3600000', help: 'How long an event may wait for an offline agent, unless the agent or event says' },
  RELAY_MAX_TTL_MS: { default: '86400000', help: 'Cap on any ttl_ms' },
  RELAY_FINAL_RETENTION_MS: { default: '3600000', help: "How long a final frame waits for its app's next connection" },
  RELAY_IDEMPOTENCY_TTL_MS: { default: '86400000', help: 'How long an idempotency_key is remembered per app' },
  RELAY_FINISHED_RETENTION_MS: {
    default: '60000',
    help: "How long an ended event's record (with its final frame, for a node to send again) is kept; one sent with an idempotency_key, as long as its key. Keep it over twice RELAY_NODE_TTL_MS: a final a dead node decided is sent from it",
  },
  RELAY_RATE_WINDOW_MS: { default: '60000', help: 'Length of the rate-limit window that rate_limit_per_min counts in' },
  RELAY_TOKEN_DROP_BYTES: { default: '262144', help: 'Token frames to a socket with more unsent bytes than this are dropped' },
  RELAY_MAX_BUFFERED_BYTES: { default: '4194304', help: 'A socket with more unsent bytes than this is closed (1013)' },
} as const satisfies Record<string, { default: string; help: string }>;

export type EnvName = keyof typeof ENV;

export interface NodeConfig {
  port: number;
  host: string;
  redisUrl: string | undefined;
  redisPrefix: string;
  nodeTtlMs: number;
  nodeId: string;
  registryPath: string | undefined;
  registryMode: RegistryMode;
  /** Unset: the admin API and the Dashboard are off. */
  adminToken: string | undefined;
  timelineRetentionMs: number;
  activityRetentionMs: number;
  recentEventsMax: number;
  logLevel: string;
  shutdownGraceMs: number;
  idleTimeoutS: number;
  replyTimeoutMs: number;
  defaultTtlMs: number;
  maxTtlMs: number;
  finalRetentionMs: number;
  idempotencyTtlMs: number;
  /** How long a finished event's record is kept; keep it above nodeTtlMs, so an overdue final can be sent again. */
  finishedRetentionMs: number;
  rateWindowMs: number;
  tokenDropBytes: number;
  maxBufferedBytes: number;
}

/** Who owns the registry: the file (re-applied at every start) or the admin API. */
export type RegistryMode = 'file' | 'admin';

export const MIN_ADMIN_TOKEN_LENGTH = 16;

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): NodeConfig {
  const str = (name: EnvName): string => env[name] ?? ENV[name].default;
  const int = (name: EnvName, min: number): number => {
    const raw = str(name);
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min) {
      throw new ConfigError(`${name} must be an integer >= ${min}, got "${raw}"`);
    }
    return value;
  };
  const registryPath = str('RELAY_CONFIG') || undefined;
  const mode = str('RELAY_REGISTRY_MODE') || (registryPath ? 'file' : 'admin');
  if (mode !== 'file' && mode !== 'admin') throw new ConfigError(`RELAY_REGISTRY_MODE must be file or admin, got "${mode}"`);
  if (mode === 'file' && !registryPath) throw new ConfigError('RELAY_REGISTRY_MODE=file needs a registry file in RELAY_CONFIG');
  const adminToken = str('RELAY_ADMIN_TOKEN') || undefined;
  if (adminToken !== undefined && (adminToken.length < MIN_ADMIN_TOKEN_LENGTH || /\s/.test(adminToken))) {
    throw new ConfigError(`RELAY_ADMIN_TOKEN must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters with no spaces`);
  }
  return {
    port: int('PORT', 0),
    host: str('HOST'),
    redisUrl: str('REDIS_URL') || undefined,
    redisPrefix: str('RELAY_REDIS_PREFIX'),
    nodeTtlMs: int('RELAY_NODE_TTL_MS', 1000),
    nodeId: str('RELAY_NODE_ID') || hostname(),
    registryPath,
    registryMode: mode,
    adminToken,
    timelineRetentionMs: int('RELAY_TIMELINE_RETENTION_MS', 1000),
    activityRetentionMs: int('RELAY_ACTIVITY_RETENTION_MS', 60_000),
    recentEventsMax: int('RELAY_RECENT_EVENTS_MAX', 1),
    logLevel: str('LOG_LEVEL'),
    shutdownGraceMs: int('RELAY_SHUTDOWN_GRACE_MS', 0),
    idleTimeoutS: int('RELAY_IDLE_TIMEOUT_S', 8),
    replyTimeoutMs: int('RELAY_REPLY_TIMEOUT_MS', 1),
    defaultTtlMs: int('RELAY_DEFAULT_TTL_MS', 1),
    maxTtlMs: int('RELAY_MAX_TTL_MS', 1),
    finalRetentionMs: int('RELAY_FINAL_RETENTION_MS', 0),
    idempotencyTtlMs: int('RELAY_IDEMPOTENCY_TTL_MS', 1),
    finishedRetentionMs: int('RELAY_FINISHED_RETENTION_MS', 1000),
    rateWindowMs: int('RELAY_RATE_WINDOW_MS', 1),
    tokenDropBytes: int('RELAY_TOKEN_DROP_BYTES', 1024),
    maxBufferedBytes: int('RELAY_MAX_BUFFERED_BYTES', 65536),
  };
}
