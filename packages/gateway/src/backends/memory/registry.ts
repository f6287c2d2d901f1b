import type { Role } from '@relay/protocol';
import { isAllowed, type AgentRecord, type AppRecord, type Principal, type Registry } from '../../ports';
import type { RegistryData } from '../../registry-file';
import { findHash, hashToken, tokenId } from '../../tokens';

export function createMemoryRegistry(data: RegistryData): Registry {
  const apps = new Map(data.apps.map((a) => [a.id, a]));
  const agents = new Map(data.agents.map((a) => [a.id, a]));
  const byRole = (role: Role) => data.tokens.filter((t) => t.role === role);
  const tokens = { app: byRole('app'), agent: byRole('agent') };
  const hashes = { app: tokens.app.map((t) => t.hash), agent: tokens.agent.map((t) => t.hash) };

  return {
    async authenticate(role, token): Promise<Principal | null> {
      const hash = hashToken(token);
      const i = findHash(hashes[role], hash);
      const entry = tokens[role][i];
      return entry ? { role, id: entry.principalId, tokenId: tokenId(hash) } : null;
    },
    async app(id): Promise<AppRecord | null> {
      return apps.get(id) ?? null;
    },
    async agent(id): Promise<AgentRecord | null> {
      return agents.get(id) ?? null;
    },
    async agentsFor(appId): Promise<AgentRecord[]> {
      return [...agents.values()].filter((a) => isAllowed(a, appId));
    },
  };
}
