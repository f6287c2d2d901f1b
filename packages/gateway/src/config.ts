import { hostname } from 'node:os';
import type { RedisTarget } from './backends/redis/connect';
import { DEFAULT_ACTIVITY } from './ports/activity';
import { DEFAULT_RATE_WINDOW_MS } from './ports/rate-limiter';
import { readRedisSettings } from './redis-settings';

/** What a setting is for: `relay --help`, the README and docs/operations.md list settings by it. */
export const SETTING_GROUPS = {
  listening: 'Listening',
  redis: 'Redis and the cluster',
  registry: 'Registry and admin API',
  timeouts: 'Timeouts',
  retention: 'Retention',
  buffers: 'Buffers',
  logging: 'Logging',
} as const;

interface Setting {
  group: keyof typeof SETTING_GROUPS;
  /** The value when the variable is unset ('' for none). */
  default: string;
  help: string;
  /** Set for whole-number settings: the smallest value accepted. */
  min?: number;
}

/**
 * Every environment variable the gateway reads, with its default and meaning. This table is the
 * one place defaults live: config parsing, `relay --help`, `.env.example` and the docs follow it.
 * Times are in milliseconds, but for RELAY_IDLE_TIMEOUT_S, kept in seconds (as uWebSockets.js
 * counts it) so that the name operators already set keeps working.
 */
export const ENV = {
  PORT: { group: 'listening', default: '8080', min: 0, help: 'TCP port for WebSockets and HTTP (0 picks a free port)' },
  HOST: { group: 'listening', default: '0.0.0.0', help: 'Address to listen on' },
  REDIS_URL: { group: 'redis', default: '', help: 'Redis URL of one primary; unset (and no REDIS_CLUSTER_URLS) means the in-memory backend (one node, not durable)' },
  REDIS_CLUSTER_URLS: {
    group: 'redis', default: '',
    help: 'Seed nodes of a Redis Cluster, comma-separated redis:// or rediss:// URLs (password and TLS from the URLs); instead of REDIS_URL',
  },
  RELAY_REDIS_MIN_REPLICAS: {
    group: 'redis', default: '0', min: 0,
    help: 'Replicas that must hold an event (Redis WAIT) before the app is told `accepted`, and a final before it is recorded; too few in time: RELAY_UNAVAILABLE',
  },
  RELAY_REDIS_PREFIX: { group: 'redis', default: 'relay', help: 'Prefix of every Redis key, so several relays can share one Redis' },
  RELAY_NODE_TTL_MS: { group: 'redis', default: '10000', min: 1000, help: "A node silent this long is dead: its agents' unanswered events are redelivered" },
  RELAY_NODE_ID: { group: 'redis', default: '', help: 'Name of this node in logs and presence (default: hostname)' },
  RELAY_CONFIG: { group: 'registry', default: '', help: 'Path to the registry file (JSON or YAML) of apps and agents' },
  RELAY_REGISTRY_MODE: {
    group: 'registry', default: '',
    help: 'file: RELAY_CONFIG is the whole registry at every start, the admin API only reads it; admin: RELAY_CONFIG seeds an empty registry once, then the admin API changes it (default: file with RELAY_CONFIG, else admin)',
  },
  RELAY_ADMIN_TOKEN: { group: 'registry', default: '', help: 'Bearer token (16+ characters) for the admin API /v1/admin/ and the Dashboard /dashboard; unset turns both off' },
  RELAY_SHUTDOWN_GRACE_MS: { group: 'timeouts', default: '10000', min: 0, help: 'How long SIGTERM may take before the node exits anyway' },
  RELAY_IDLE_TIMEOUT_S: { group: 'timeouts', default: '60', min: 8, help: 'Close sockets silent this many seconds; protocol pings keep live ones open' },
  RELAY_SSE_KEEPALIVE_MS: { group: 'timeouts', default: '15000', min: 100, help: 'An SSE stream of the HTTP API idle this long gets a `: keepalive` comment, so proxies keep it open' },
  RELAY_REPLY_TIMEOUT_MS: { group: 'timeouts', default: '120000', min: 1, help: 'AGENT_TIMEOUT after an agent holds an event this long without a token or reply' },
  RELAY_AGENT_WEBHOOK_TIMEOUT_MS: {
    group: 'timeouts', default: '10000', min: 1,
    help: "How long an HTTP agent's webhook may take to answer an event's POST with a status line; longer is a failed delivery, redelivered after a backoff",
  },
  RELAY_AGENT_WEBHOOK_BACKOFF_MS: {
    group: 'timeouts', default: '1000', min: 1,
    help: "Wait before redelivering an event whose POST to an HTTP agent's webhook failed; doubles each attempt, at most a minute, within the event's TTL",
  },
  RELAY_DEFAULT_TTL_MS: { group: 'timeouts', default: '3600000', min: 1, help: 'How long an event may wait for an offline agent, unless the agent or event says' },
  RELAY_MAX_TTL_MS: { group: 'timeouts', default: '86400000', min: 1, help: 'Cap on any ttl_ms' },
  RELAY_WEBHOOK_TIMEOUT_MS: {
    group: 'timeouts', default: '10000', min: 1,
    help: "How long a webhook (an app's final POSTed to its webhook_url) may take to answer 2xx before the try counts as failed",
  },
  RELAY_WEBHOOK_RETRY_MS: {
    group: 'timeouts', default: '86400000', min: 0,
    help: 'How long a webhook is tried again after failures (backoff 1 s, 2 s, 4 s … capped at 10 min) before it is given up',
  },
  RELAY_RATE_WINDOW_MS: { group: 'timeouts', default: String(DEFAULT_RATE_WINDOW_MS), min: 1, help: 'Length of the rate-limit window that rate_limit_per_min counts in' },
  RELAY_TIMELINE_RETENTION_MS: {
    group: 'retention', default: '3600000', min: 1000,
    help: "How long an event's timeline (GET /v1/admin/events/:id) is kept after its last step",
  },
  RELAY_ACTIVITY_RETENTION_MS: {
    group: 'retention', default: String(DEFAULT_ACTIVITY.retentionMs), min: 60_000,
    help: "How long the Dashboard's per-minute traffic counts and recent events are kept",
  },
  RELAY_RECENT_EVENTS_MAX: {
    group: 'retention', default: String(DEFAULT_ACTIVITY.maxEvents), min: 1,
    help: "Recent events (ids, state, latencies; never payloads) the Dashboard's list keeps at most, cluster-wide",
  },
  RELAY_FINAL_RETENTION_MS: { group: 'retention', default: '3600000', min: 0, help: "How long a final frame waits for its app's next connection" },
  RELAY_IDEMPOTENCY_TTL_MS: { group: 'retention', default: '86400000', min: 1, help: 'How long an idempotency_key is remembered per app' },
  RELAY_FINISHED_RETENTION_MS: {
    group: 'retention', default: '60000', min: 1000,
    help: "How long an ended event's record (with its final frame, for a node to send again) is kept; one sent with an idempotency_key, as long as its key. At least twice RELAY_NODE_TTL_MS: a final a dead node decided is sent from it",
  },
  RELAY_STREAM_RETENTION_MS: {
    group: 'retention', default: '600000', min: 1000,
    help: "How long an event's recorded tokens are kept after its final, for `resume` (within the ended event's record retention)",
  },
  RELAY_STREAM_MAX_BYTES: {
    group: 'retention', default: '1048576', min: 0,
    help: 'Bytes of token text recorded per event attempt at most (an answer fits in the 1 MiB reply frame); later tokens are relayed live only (relay_tokens_unrecorded_total); 0 records none',
  },
  RELAY_TOKEN_DROP_BYTES: {
    group: 'buffers', default: '262144', min: 1024,
    help: 'Token frames to a socket with more unsent bytes than this are dropped (below RELAY_MAX_BUFFERED_BYTES)',
  },
  RELAY_MAX_BUFFERED_BYTES: { group: 'buffers', default: '4194304', min: 65536, help: 'A socket with more unsent bytes than this is closed (1013)' },
  LOG_LEVEL: { group: 'logging', default: 'info', help: 'pino level: trace, debug, info, warn, error, fatal, silent (`debug` adds a line per event accepted, delivered and answered)' },
} as const satisfies Record<string, Setting>;

export type EnvName = keyof typeof ENV;

export interface NodeConfig {
  port: number;
  host: string;
  redisUrl: string | undefined;
  /** One primary (REDIS_URL) or a cluster (REDIS_CLUSTER_URLS); unset: the in-memory backend. */
  redis: RedisTarget | undefined;
  redisMinReplicas: number;
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
  sseKeepaliveMs: number;
  replyTimeoutMs: number;
  agentWebhookTimeoutMs: number;
  agentWebhookBackoffMs: number;
  defaultTtlMs: number;
  maxTtlMs: number;
  finalRetentionMs: number;
  idempotencyTtlMs: number;
  /** How long a finished event's record is kept; at least twice nodeTtlMs, so an overdue final can be sent again. */
  finishedRetentionMs: number;
  streamRetentionMs: number;
  streamMaxBytes: number;
  rateWindowMs: number;
  webhookTimeoutMs: number;
  webhookRetryMs: number;
  tokenDropBytes: number;
  maxBufferedBytes: number;
}

/** Who owns the registry: the file (re-applied at every start) or the admin API. */
export type RegistryMode = 'file' | 'admin';

export const MIN_ADMIN_TOKEN_LENGTH = 16;

export class ConfigError extends Error {}

/**
 * Rules between settings, each with the reason an operator reads when a start is refused. A
 * config that breaks one would start and then misbehave only in a fault, long after.
 */
const CONSTRAINTS: Array<{ holds(c: NodeConfig): boolean; problem(c: NodeConfig): string }> = [
  {
    holds: (c) => c.registryMode !== 'file' || c.registryPath !== undefined,
    problem: () => 'RELAY_REGISTRY_MODE=file needs a registry file in RELAY_CONFIG',
  },
  {
    holds: (c) => c.finishedRetentionMs >= 2 * c.nodeTtlMs,
    problem: (c) =>
      `RELAY_FINISHED_RETENTION_MS (${c.finishedRetentionMs}) must be at least twice RELAY_NODE_TTL_MS (${c.nodeTtlMs}): ` +
      'the final frame of an event whose node died is sent again from its record once that node is found dead',
  },
  {
    holds: (c) => c.tokenDropBytes < c.maxBufferedBytes,
    problem: (c) =>
      `RELAY_TOKEN_DROP_BYTES (${c.tokenDropBytes}) must be below RELAY_MAX_BUFFERED_BYTES (${c.maxBufferedBytes}): ` +
      'a slow socket must lose tokens before it is closed',
  },
];

export function loadConfig(env: NodeJS.ProcessEnv = process.env): NodeConfig {
  const str = (name: EnvName): string => env[name] ?? ENV[name].default;
  const int = (name: EnvName): number => {
    const min = (ENV[name] as Setting).min;
    if (min === undefined) throw new Error(`${name} is not a whole-number setting`);
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
  const adminToken = str('RELAY_ADMIN_TOKEN') || undefined;
  if (adminToken !== undefined && (adminToken.length < MIN_ADMIN_TOKEN_LENGTH || /\s/.test(adminToken))) {
    throw new ConfigError(`RELAY_ADMIN_TOKEN must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters with no spaces`);
  }
  const redis = readRedisSettings(str('REDIS_URL'), str('REDIS_CLUSTER_URLS'), int('RELAY_REDIS_MIN_REPLICAS'), (m) => new ConfigError(m));
  const config: NodeConfig = {
    port: int('PORT'),
    host: str('HOST'),
    redisUrl: str('REDIS_URL') || undefined,
    redis: redis.target,
    redisMinReplicas: redis.minReplicas,
    redisPrefix: str('RELAY_REDIS_PREFIX'),
    nodeTtlMs: int('RELAY_NODE_TTL_MS'),
    nodeId: str('RELAY_NODE_ID') || hostname(),
    registryPath,
    registryMode: mode,
    adminToken,
    timelineRetentionMs: int('RELAY_TIMELINE_RETENTION_MS'),
    activityRetentionMs: int('RELAY_ACTIVITY_RETENTION_MS'),
    recentEventsMax: int('RELAY_RECENT_EVENTS_MAX'),
    logLevel: str('LOG_LEVEL'),
    shutdownGraceMs: int('RELAY_SHUTDOWN_GRACE_MS'),
    idleTimeoutS: int('RELAY_IDLE_TIMEOUT_S'),
    sseKeepaliveMs: int('RELAY_SSE_KEEPALIVE_MS'),
    replyTimeoutMs: int('RELAY_REPLY_TIMEOUT_MS'),
    agentWebhookTimeoutMs: int('RELAY_AGENT_WEBHOOK_TIMEOUT_MS'),
    agentWebhookBackoffMs: int('RELAY_AGENT_WEBHOOK_BACKOFF_MS'),
    defaultTtlMs: int('RELAY_DEFAULT_TTL_MS'),
    maxTtlMs: int('RELAY_MAX_TTL_MS'),
    finalRetentionMs: int('RELAY_FINAL_RETENTION_MS'),
    idempotencyTtlMs: int('RELAY_IDEMPOTENCY_TTL_MS'),
    finishedRetentionMs: int('RELAY_FINISHED_RETENTION_MS'),
    streamRetentionMs: int('RELAY_STREAM_RETENTION_MS'),
    streamMaxBytes: int('RELAY_STREAM_MAX_BYTES'),
    rateWindowMs: int('RELAY_RATE_WINDOW_MS'),
    webhookTimeoutMs: int('RELAY_WEBHOOK_TIMEOUT_MS'),
    webhookRetryMs: int('RELAY_WEBHOOK_RETRY_MS'),
    tokenDropBytes: int('RELAY_TOKEN_DROP_BYTES'),
    maxBufferedBytes: int('RELAY_MAX_BUFFERED_BYTES'),
  };
  const broken = CONSTRAINTS.find((rule) => !rule.holds(config));
  if (broken) throw new ConfigError(broken.problem(config));
  return config;
}

/** `relay --help`'s list of settings, by purpose. */
export function settingsHelp(): string {
  return Object.entries(SETTING_GROUPS)
    .map(([group, title]) => {
      const rows = Object.entries(ENV as Record<string, Setting>)
        .filter(([, spec]) => spec.group === group)
        .map(([name, spec]) => `  ${name.padEnd(28)} ${spec.help}${spec.default ? ` (default ${spec.default})` : ''}`);
      return `${title}:\n${rows.join('\n')}`;
    })
    .join('\n\n');
}
