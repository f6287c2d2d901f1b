import type { Redis } from 'ioredis';
import type { Role } from '@relay/protocol';
import { isAllowed, type AgentRecord, type AppRecord, type Principal, type Registry } from '../../ports';
import type { RegistryData } from '../../registry-file';
import { hashToken, tokenId } from '../../tokens';
import type { Keys } from './keys';

interface TokenEntry {
  role: Role;
  principalId: string;
}

/**
 * Apps, agents and token hashes in Redis, shared by every node. Tokens are looked up by their
 * SHA-256: the secret itself is never stored or compared, so the lookup leaks nothing about it.
 */
export function createRedisRegistry(client: Redis, keys: Keys): Registry & { seed(data: RegistryData): Promise<void> } {
  const parse = <T>(raw: string | null): T | null => (raw === null ? null : (JSON.parse(raw) as T));
  return {
    /**
     * Makes the registry in Redis exactly the registry file, in one transaction: nodes starting
     * together write the same thing, and a token removed from the file stops working.
     */
    async seed(data) {
      const tx = client.multi().del(keys.registryApps, keys.registryAgents, keys.registryTokens);
      for (const app of data.apps) tx.hset(keys.registryApps, app.id, JSON.stringify(app));
      for (const agent of data.agents) tx.hset(keys.registryAgents, agent.id, JSON.stringify(agent));
      for (const t of data.tokens) {
        const entry: TokenEntry = { role: t.role, principalId: t.principalId };
        tx.hset(keys.registryTokens, t.hash.toString('hex'), JSON.stringify(entry));
      }
      await tx.exec();
    },
    async authenticate(role, token): Promise<Principal | null> {
      const hash = hashToken(token);
      const entry = parse<TokenEntry>(await client.hget(keys.registryTokens, hash.toString('hex')));
      return entry && entry.role === role ? { role, id: entry.principalId, tokenId: tokenId(hash) } : null;
    },
    async app(id) {
      return parse<AppRecord>(await client.hget(keys.registryApps, id));
    },
    async agent(id) {
      return parse<AgentRecord>(await client.hget(keys.registryAgents, id));
    },
    async agentsFor(appId) {
      const all = Object.values(await client.hgetall(keys.registryAgents)).map((raw) => JSON.parse(raw) as AgentRecord);
      return all.filter((a) => isAllowed(a, appId)).sort((a, b) => (a.id < b.id ? -1 : 1));
    },
  };
}
