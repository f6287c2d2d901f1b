import type { Role } from '@relay/protocol';

export interface AppRecord {
  id: string;
  name: string;
  /** Events per minute delivered at once; above it (up to the hard limit) events wait. */
  rateLimitPerMin: number;
  /** Events per minute accepted at all; above it the app gets RATE_LIMITED. */
  hardRateLimitPerMin: number;
  maxConnections: number;
  /** Where its events' finals are also POSTed, signed (PROTOCOL.md "App webhooks"); absent: none. */
  webhookUrl?: string | null;
  /** `whsec_…`, kept because signing needs it; never shown after it is made. */
  webhookSecret?: string | null;
}

export interface AgentRecord {
  id: string;
  name: string;
  description: string;
  /** App ids allowed to send to this agent; `*` allows every app. */
  allowApps: string[];
  maxConnections: number;
  defaultTtlMs: number;
  /** Unanswered events one agent connection holds at once; more wait in the queue. */
  maxInFlight: number;
  /** Events waiting for this agent at most; more get QUEUE_FULL. */
  maxQueue: number;
  /** Where its events are POSTed when no socket of it is attached (PROTOCOL.md "Agents over HTTP"). */
  webhookUrl?: string | null;
  /** `whsec_…`, signs what is POSTed to `webhookUrl`; never shown after it is made. */
  webhookSecret?: string | null;
}

/**
 * Limits of an app or agent whose registry file entry or admin API request leaves them out (an
 * agent's default TTL is RELAY_DEFAULT_TTL_MS, in the settings table).
 */
export const APP_DEFAULTS = { rateLimitPerMin: 600, maxConnections: 10 } as const;
export const AGENT_DEFAULTS = { maxConnections: 10, maxInFlight: 64, maxQueue: 10_000 } as const;

/** The hard rate limit of an app that sets only its soft one: twice the soft limit. */
export function defaultHardRate(rateLimitPerMin: number): number {
  return rateLimitPerMin * 2;
}

/** Who a token belongs to. `tokenId` names the token without revealing it (for revocation). */
export interface Principal {
  role: Role;
  id: string;
  tokenId: string;
}

/** What the registry keeps about one token: never the secret, only its hash (by `id`). */
export interface TokenRecord {
  /** Names the token without revealing it: the first 12 hex digits of its SHA-256. */
  id: string;
  role: Role;
  principalId: string;
  createdAt: number;
  /** When it last opened a connection; null if never. */
  lastUsedAt: number | null;
  /** Refused from this instant on (a rotated token's grace period); null for no end. */
  expiresAt: number | null;
}

/** A token as the registry is seeded with it: the SHA-256 of its secret, and whose it is. */
export interface TokenHash {
  role: Role;
  principalId: string;
  hash: Buffer;
}

/** The registry as the backends are seeded with it: records plus token hashes, never plain tokens. */
export interface RegistryData {
  apps: AppRecord[];
  agents: AgentRecord[];
  tokens: TokenHash[];
}

export type AppChanges = Partial<Omit<AppRecord, 'id'>>;
export type AgentChanges = Partial<Omit<AgentRecord, 'id'>>;

/**
 * Apps, agents, token hashes and allowlists, shared by every node: a change made on one node
 * is what every node reads next (no node caches records). Only hashes of tokens are held;
 * `authenticate` never logs or returns the secret.
 */
export interface Registry {
  /** The token's owner, if the token is known, of this role and not past its `expiresAt`; notes its use. */
  authenticate(role: Role, token: string): Promise<Principal | null>;
  app(id: string): Promise<AppRecord | null>;
  agent(id: string): Promise<AgentRecord | null>;
  /** Agents this app may send to, in a stable order. */
  agentsFor(appId: string): Promise<AgentRecord[]>;
  /** Every app / agent, by id. */
  apps(): Promise<AppRecord[]>;
  agents(): Promise<AgentRecord[]>;
  /** Adds it; false (and nothing changes) when the id is taken. */
  createApp(app: AppRecord): Promise<boolean>;
  createAgent(agent: AgentRecord): Promise<boolean>;
  /**
   * Applies the changes to the record as it is at that moment (atomic against concurrent
   * updates) and returns the result; null when there is no such record.
   */
  updateApp(id: string, changes: AppChanges, check?: (next: AppRecord) => void): Promise<AppRecord | null>;
  updateAgent(id: string, changes: AgentChanges, check?: (next: AgentRecord) => void): Promise<AgentRecord | null>;
  /**
   * Removes the record and every token of it, and (for an app) the app from every allowlist, so
   * a later app of the same id is not allowed anywhere by accident. Returns the removed tokens,
   * or null when there was no such record.
   */
  deleteApp(id: string): Promise<TokenRecord[] | null>;
  deleteAgent(id: string): Promise<TokenRecord[] | null>;
  /**
   * Adds a token by the SHA-256 of its secret. Null when the app or agent does not exist; a
   * hash already known is never added twice (throws).
   */
  addToken(role: Role, principalId: string, hash: Buffer, now: number, expiresAt?: number | null): Promise<TokenRecord | null>;
  /** The tokens of one app or agent, oldest first; null when it does not exist. */
  tokens(role: Role, principalId: string): Promise<TokenRecord[] | null>;
  /** Sets when a token stops working (rotation); null when it does not exist. */
  expireToken(role: Role, principalId: string, tokenId: string, at: number): Promise<TokenRecord | null>;
  /** Removes a token; false when this app or agent has no such token. */
  revokeToken(role: Role, principalId: string, tokenId: string): Promise<boolean>;
}

export function isAllowed(agent: AgentRecord, appId: string): boolean {
  return agent.allowApps.includes('*') || agent.allowApps.includes(appId);
}
