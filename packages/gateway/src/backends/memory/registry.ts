import {
  isAllowed,
  type AgentRecord,
  type AppRecord,
  type Principal,
  type Registry,
  type RegistryData,
  type TokenRecord,
} from '../../ports';
import { hashToken, tokenId } from '../../tokens';

const byId = <T extends { id: string }>(records: Iterable<T>): T[] => [...records].sort((a, b) => (a.id < b.id ? -1 : 1));

/**
 * The registry in this process, seeded from the registry file (or the development registry).
 * Tokens are found by the SHA-256 of the secret, so the lookup says nothing about the secret.
 */
export function createMemoryRegistry(data: RegistryData, now: () => number = Date.now): Registry {
  const apps = new Map(data.apps.map((a) => [a.id, { ...a }]));
  const agents = new Map(data.agents.map((a) => [a.id, { ...a, allowApps: [...a.allowApps] }]));
  /** hex of the hash → token */
  const tokens = new Map<string, TokenRecord>();
  const seededAt = now();
  for (const t of data.tokens) {
    tokens.set(t.hash.toString('hex'), {
      id: tokenId(t.hash),
      role: t.role,
      principalId: t.principalId,
      createdAt: seededAt,
      lastUsedAt: null,
      expiresAt: null,
    });
  }
  const exists = (role: 'app' | 'agent', id: string) => (role === 'app' ? apps.has(id) : agents.has(id));
  const tokensOf = (role: 'app' | 'agent', id: string) =>
    [...tokens.entries()].filter(([, t]) => t.role === role && t.principalId === id);
  const removeTokensOf = (role: 'app' | 'agent', id: string): TokenRecord[] =>
    tokensOf(role, id).map(([hex, t]) => {
      tokens.delete(hex);
      return t;
    });
  const copy = (t: TokenRecord): TokenRecord => ({ ...t });

  return {
    async authenticate(role, token): Promise<Principal | null> {
      const entry = tokens.get(hashToken(token).toString('hex'));
      const at = now();
      if (!entry || entry.role !== role || (entry.expiresAt !== null && entry.expiresAt <= at)) return null;
      entry.lastUsedAt = at;
      return { role, id: entry.principalId, tokenId: entry.id };
    },
    async app(id): Promise<AppRecord | null> {
      const app = apps.get(id);
      return app ? { ...app } : null;
    },
    async agent(id): Promise<AgentRecord | null> {
      const agent = agents.get(id);
      return agent ? { ...agent, allowApps: [...agent.allowApps] } : null;
    },
    async agentsFor(appId): Promise<AgentRecord[]> {
      return byId(agents.values()).filter((a) => isAllowed(a, appId));
    },
    async apps() {
      return byId(apps.values()).map((a) => ({ ...a }));
    },
    async agents() {
      return byId(agents.values()).map((a) => ({ ...a, allowApps: [...a.allowApps] }));
    },
    async createApp(app) {
      if (apps.has(app.id)) return false;
      apps.set(app.id, { ...app });
      return true;
    },
    async createAgent(agent) {
      if (agents.has(agent.id)) return false;
      agents.set(agent.id, { ...agent, allowApps: [...agent.allowApps] });
      return true;
    },
    async updateApp(id, changes, check) {
      const app = apps.get(id);
      if (!app) return null;
      const next = { ...app, ...changes, id };
      check?.(next);
      apps.set(id, next);
      return { ...next };
    },
    async updateAgent(id, changes, check) {
      const agent = agents.get(id);
      if (!agent) return null;
      const next = { ...agent, ...changes, id, allowApps: [...(changes.allowApps ?? agent.allowApps)] };
      check?.(next);
      agents.set(id, next);
      return { ...next, allowApps: [...next.allowApps] };
    },
    async deleteApp(id) {
      if (!apps.delete(id)) return null;
      for (const agent of agents.values()) agent.allowApps = agent.allowApps.filter((a) => a !== id);
      return removeTokensOf('app', id);
    },
    async deleteAgent(id) {
      if (!agents.delete(id)) return null;
      return removeTokensOf('agent', id);
    },
    async addToken(role, principalId, hash, at, expiresAt = null) {
      if (!exists(role, principalId)) return null;
      const hex = hash.toString('hex');
      if (tokens.has(hex)) throw new Error('this token is already registered');
      const record: TokenRecord = { id: tokenId(hash), role, principalId, createdAt: at, lastUsedAt: null, expiresAt };
      tokens.set(hex, record);
      return copy(record);
    },
    async tokens(role, principalId) {
      if (!exists(role, principalId)) return null;
      return tokensOf(role, principalId)
        .map(([, t]) => copy(t))
        .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
    },
    async expireToken(role, principalId, id, at) {
      const found = tokensOf(role, principalId).find(([, t]) => t.id === id);
      if (!found) return null;
      found[1].expiresAt = at;
      return copy(found[1]);
    },
    async revokeToken(role, principalId, id) {
      const found = tokensOf(role, principalId).find(([, t]) => t.id === id);
      if (!found) return false;
      tokens.delete(found[0]);
      return true;
    },
  };
}
