import { readFileSync } from 'node:fs';
import { z } from 'zod';
import YAML from 'yaml';
import { agentId, appId, isWebhookSecret, type Role } from '@relay/protocol';
import { AGENT_DEFAULTS, APP_DEFAULTS, defaultHardRate, type AgentRecord, type AppRecord, type RegistryData, type TokenHash } from './ports';
import { generateToken, hashToken, tokenPrefix } from './tokens';

/** A token as written in the registry file: plain text (development) or `sha256:<hex>`. */
const tokenEntry = z.string().min(1);

/** Webhooks are set by admins, so private-network targets are allowed; only the scheme is checked. */
export const webhookUrl = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).max(2_048);
const webhookSecret = z.string().refine(isWebhookSecret, 'must be whsec_ + base64 of at least 24 random bytes');

const AppEntry = z.object({
  id: appId,
  name: z.string().optional(),
  tokens: z.array(tokenEntry).default([]),
  rate_limit_per_min: z.int().positive().default(APP_DEFAULTS.rateLimitPerMin),
  hard_rate_limit_per_min: z.int().positive().optional(),
  max_connections: z.int().positive().default(APP_DEFAULTS.maxConnections),
  webhook_url: webhookUrl.optional(),
  webhook_secret: webhookSecret.optional(),
});

const AgentEntry = z.object({
  id: agentId,
  name: z.string().optional(),
  description: z.string().default(''),
  tokens: z.array(tokenEntry).default([]),
  allow_apps: z.array(z.union([appId, z.literal('*')])).default([]),
  max_connections: z.int().positive().default(AGENT_DEFAULTS.maxConnections),
  default_ttl_ms: z.int().positive().optional(),
  max_in_flight: z.int().positive().default(AGENT_DEFAULTS.maxInFlight),
  max_queue: z.int().positive().default(AGENT_DEFAULTS.maxQueue),
  webhook_url: webhookUrl.optional(),
  webhook_secret: webhookSecret.optional(),
});

export const RegistryFile = z.object({
  apps: z.array(AppEntry).default([]),
  agents: z.array(AgentEntry).default([]),
});
export type RegistryFile = z.infer<typeof RegistryFile>;

export class RegistryFileError extends Error {
  override readonly name = 'RegistryFileError';
}

export function readRegistryFile(path: string, defaultTtlMs: number): RegistryData {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new RegistryFileError(`cannot read RELAY_CONFIG ${path}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = /\.ya?ml$/i.test(path) ? YAML.parse(text) : JSON.parse(text);
  } catch (err) {
    throw new RegistryFileError(`RELAY_CONFIG ${path} does not parse: ${(err as Error).message}`);
  }
  return toRegistryData(raw, defaultTtlMs, path);
}

export function toRegistryData(raw: unknown, defaultTtlMs: number, source = 'registry'): RegistryData {
  const parsed = RegistryFile.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new RegistryFileError(`${source} is invalid: ${problems}`);
  }
  const file = parsed.data;
  const tokens: TokenHash[] = [];
  const seen = new Set<string>();
  const addTokens = (role: Role, id: string, entries: string[]): void => {
    for (const entry of entries) {
      const hash = tokenHashOf(role, id, entry, source);
      const hex = hash.toString('hex');
      if (seen.has(hex)) throw new RegistryFileError(`${source}: a token is listed twice (${role} ${id})`);
      seen.add(hex);
      tokens.push({ role, principalId: id, hash });
    }
  };
  const unique = (kind: string, ids: string[]): void => {
    const dup = ids.find((id, i) => ids.indexOf(id) !== i);
    if (dup) throw new RegistryFileError(`${source}: ${kind} "${dup}" is listed twice`);
  };
  unique('app', file.apps.map((a) => a.id));
  unique('agent', file.agents.map((a) => a.id));

  const apps = file.apps.map((a): AppRecord => {
    addTokens('app', a.id, a.tokens);
    return {
      id: a.id,
      name: a.name ?? a.id,
      rateLimitPerMin: a.rate_limit_per_min,
      hardRateLimitPerMin: Math.max(a.hard_rate_limit_per_min ?? defaultHardRate(a.rate_limit_per_min), a.rate_limit_per_min),
      maxConnections: a.max_connections,
      webhookUrl: a.webhook_url ?? null,
      webhookSecret: a.webhook_secret ?? null,
    };
  });
  const agents = file.agents.map((a): AgentRecord => {
    addTokens('agent', a.id, a.tokens);
    return {
      id: a.id,
      name: a.name ?? a.id,
      description: a.description,
      allowApps: a.allow_apps,
      maxConnections: a.max_connections,
      defaultTtlMs: a.default_ttl_ms ?? defaultTtlMs,
      maxInFlight: a.max_in_flight,
      maxQueue: a.max_queue,
      webhookUrl: a.webhook_url ?? null,
      webhookSecret: a.webhook_secret ?? null,
    };
  });
  return { apps, agents, tokens };
}

/**
 * 128 bits as base64url. A shorter secret can be guessed offline from its SHA-256 (the registry
 * in Redis holds only those), so it is refused rather than merely warned about. Relay's own
 * tokens carry 32 base62 characters (about 190 bits).
 */
export const MIN_TOKEN_SECRET_LENGTH = 22;

function tokenHashOf(role: Role, id: string, entry: string, source: string): Buffer {
  const hashed = /^sha256:([0-9a-f]{64})$/i.exec(entry);
  if (hashed) return Buffer.from(hashed[1] as string, 'hex');
  const prefix = tokenPrefix(role, id);
  if (!entry.startsWith(prefix) || entry.length === prefix.length) {
    throw new RegistryFileError(`${source}: tokens of ${role} "${id}" must look like ${prefix}<secret> or sha256:<hex>`);
  }
  const secretLength = entry.length - prefix.length;
  if (secretLength < MIN_TOKEN_SECRET_LENGTH) {
    throw new RegistryFileError(
      `${source}: a token of ${role} "${id}" has a secret of ${secretLength} characters; ` +
        `secrets need at least ${MIN_TOKEN_SECRET_LENGTH} (128 bits of base64url): make one as README's "Registry file" shows`,
    );
  }
  return hashToken(entry);
}

/** With no registry file and no Redis: one app and one agent with fresh tokens, for trying Relay. */
export function developmentRegistry(defaultTtlMs: number): { data: RegistryData; appToken: string; agentToken: string } {
  const appToken = generateToken('app', 'portal');
  const agentToken = generateToken('agent', 'athena');
  const data = toRegistryData(
    {
      apps: [{ id: 'portal', name: 'Portal', tokens: [appToken] }],
      agents: [
        {
          id: 'athena',
          name: 'Athena',
          description: 'Development agent: run examples/echo-agent.js to answer as it',
          tokens: [agentToken],
          allow_apps: ['portal'],
        },
      ],
    },
    defaultTtlMs,
    'development registry',
  );
  return { data, appToken, agentToken };
}
