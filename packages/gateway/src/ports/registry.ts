import type { Role } from '@relay/protocol';

export interface AppRecord {
  id: string;
  name: string;
  /** Events per minute delivered at once; above it (up to the hard limit) events wait. */
  rateLimitPerMin: number;
  /** Events per minute accepted at all; above it the app gets RATE_LIMITED. */
  hardRateLimitPerMin: number;
  maxConnections: number;
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
}

/** Who a token belongs to. `tokenId` names the token without revealing it (for revocation). */
export interface Principal {
  role: Role;
  id: string;
  tokenId: string;
}

/**
 * Apps, agents, token hashes and allowlists. Only hashes of tokens are held; `authenticate`
 * compares in constant time and never logs or returns the secret.
 */
export interface Registry {
  authenticate(role: Role, token: string): Promise<Principal | null>;
  app(id: string): Promise<AppRecord | null>;
  agent(id: string): Promise<AgentRecord | null>;
  /** Agents this app may send to, in a stable order. */
  agentsFor(appId: string): Promise<AgentRecord[]>;
}

export function isAllowed(agent: AgentRecord, appId: string): boolean {
  return agent.allowApps.includes('*') || agent.allowApps.includes(appId);
}
