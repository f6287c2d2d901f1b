import { sharedInTurn, type RedisClient } from './connect';
import type { Role } from '@relay/protocol';
import { isAllowed, type AgentRecord, type AppRecord, type Principal, type Registry, type RegistryData, type TokenRecord } from '../../ports';
import { hashToken, tokenId } from '../../tokens';
import type { Keys } from './keys';
import { codeOf, ScriptCode } from './script-codes';
import type { RunScript } from './scripts';

/** The token as stored: its record without the last use, which lives in a hash of its own. */
type StoredToken = Omit<TokenRecord, 'lastUsedAt'>;

/**
 * How the registry file meets the registry in Redis: `replace` makes Redis exactly the file at
 * every start (file mode); `if-empty` seeds only a registry never written before (admin mode).
 */
export type SeedMode = 'replace' | 'if-empty';

const byId = <T extends { id: string }>(records: T[]): T[] => records.sort((a, b) => (a.id < b.id ? -1 : 1));

/**
 * Apps, agents and token hashes in Redis, shared by every node and read afresh on every call
 * (callers in one turn share a read that leaves after them all: connect.ts sharedInTurn), so an
 * admin change applies to the next event on any node. Tokens are looked up by their SHA-256:
 * the secret itself is never stored or compared, so the lookup leaks nothing about it.
 */
export function createRedisRegistry(
  client: RedisClient,
  run: RunScript,
  keys: Keys,
): Registry & { seed(data: RegistryData, mode: SeedMode): Promise<boolean> } {
  const parse = <T>(raw: string | null): T | null => (raw === null ? null : (JSON.parse(raw) as T));
  const recordsKey = (role: Role) => (role === 'app' ? keys.registryApps : keys.registryAgents);

  // The records every event reads, on its accept and its final: callers in one turn share a read.
  const readApp = sharedInTurn(client, (id) => client.hget(keys.registryApps, id));
  const readAgent = sharedInTurn(client, (id) => client.hget(keys.registryAgents, id));

  const CAS = [ScriptCode.Ok, ScriptCode.Conflict, ScriptCode.Missing] as const;

  /** Read-modify-write of one record, retried while another writer got there first. */
  async function update<T extends { id: string }>(key: string, id: string, change: (current: T) => T): Promise<T | null> {
    for (;;) {
      const raw = await client.hget(key, id);
      if (raw === null) return null;
      const next = change(JSON.parse(raw) as T);
      const swapped = codeOf('casField', await run('casField', [key], [id, raw, JSON.stringify(next)]), CAS);
      if (swapped === ScriptCode.Ok) return next;
      if (swapped === ScriptCode.Missing) return null;
    }
  }

  /** Every stored token of one owner, with the hex of its hash. */
  async function tokensOf(role: Role, principalId: string): Promise<{ hex: string; token: StoredToken; raw: string }[]> {
    const all = await client.hgetall(keys.registryTokens);
    return Object.entries(all)
      .map(([hex, raw]) => ({ hex, raw, token: JSON.parse(raw) as StoredToken }))
      .filter(({ token }) => token.role === role && token.principalId === principalId);
  }

  async function withUse(found: { hex: string; token: StoredToken }[]): Promise<TokenRecord[]> {
    if (found.length === 0) return [];
    const used = await client.hmget(keys.registryTokenUse, ...found.map((f) => f.hex));
    return found.map((f, i) => ({ ...f.token, lastUsedAt: used[i] ? Number(used[i]) : null }));
  }

  const deletePrincipal = async (role: Role, id: string): Promise<TokenRecord[] | null> => {
    const removed = (await run('deletePrincipal', [recordsKey(role), keys.registryTokens, keys.registryTokenUse], [role, id])) as
      | string[]
      | null;
    return removed === null ? null : removed.map((raw) => ({ ...(JSON.parse(raw) as StoredToken), lastUsedAt: null }));
  };

  return {
    async seed(data, mode) {
      const old = await client.hgetall(keys.registryTokens);
      const now = Date.now();
      const args: (string | number)[] = [mode, data.apps.length, data.agents.length, data.tokens.length];
      for (const app of data.apps) args.push(app.id, JSON.stringify(app));
      for (const agent of data.agents) args.push(agent.id, JSON.stringify(agent));
      for (const t of data.tokens) {
        const hex = t.hash.toString('hex');
        const before = parse<StoredToken>(old[hex] ?? null);
        // A token the file kept keeps its creation time across restarts.
        const createdAt = before && before.role === t.role && before.principalId === t.principalId ? before.createdAt : now;
        const stored: StoredToken = { id: tokenId(t.hash), role: t.role, principalId: t.principalId, createdAt, expiresAt: null };
        args.push(hex, JSON.stringify(stored));
      }
      const written = await run(
        'seedRegistry',
        [keys.registryApps, keys.registryAgents, keys.registryTokens, keys.registryTokenUse, keys.registrySeeded],
        args,
      );
      return codeOf('seedRegistry', written, [ScriptCode.Ok, ScriptCode.Unchanged]) === ScriptCode.Ok;
    },
    async authenticate(role, token): Promise<Principal | null> {
      const hash = hashToken(token);
      const raw = (await run('authenticate', [keys.registryTokens, keys.registryTokenUse], [hash.toString('hex'), role, Date.now()])) as
        | string
        | null;
      const entry = parse<StoredToken>(raw);
      return entry ? { role, id: entry.principalId, tokenId: entry.id } : null;
    },
    async app(id) {
      return parse<AppRecord>(await readApp(id));
    },
    async agent(id) {
      return parse<AgentRecord>(await readAgent(id));
    },
    async agentsFor(appId) {
      return (await this.agents()).filter((a) => isAllowed(a, appId));
    },
    async apps() {
      return byId(Object.values(await client.hgetall(keys.registryApps)).map((raw) => JSON.parse(raw) as AppRecord));
    },
    async agents() {
      return byId(Object.values(await client.hgetall(keys.registryAgents)).map((raw) => JSON.parse(raw) as AgentRecord));
    },
    async createApp(app) {
      return (await client.hsetnx(keys.registryApps, app.id, JSON.stringify(app))) === 1;
    },
    async createAgent(agent) {
      return (await client.hsetnx(keys.registryAgents, agent.id, JSON.stringify(agent))) === 1;
    },
    async updateApp(id, changes, check) {
      return update<AppRecord>(keys.registryApps, id, (current) => {
        const next = { ...current, ...changes, id };
        check?.(next);
        return next;
      });
    },
    async updateAgent(id, changes, check) {
      return update<AgentRecord>(keys.registryAgents, id, (current) => {
        const next = { ...current, ...changes, id };
        check?.(next);
        return next;
      });
    },
    async deleteApp(id) {
      const removed = await deletePrincipal('app', id);
      if (removed === null) return null;
      for (const agent of await this.agents()) {
        if (!agent.allowApps.includes(id)) continue;
        await update<AgentRecord>(keys.registryAgents, agent.id, (current) => ({
          ...current,
          allowApps: current.allowApps.filter((a) => a !== id),
        }));
      }
      return removed;
    },
    async deleteAgent(id) {
      return deletePrincipal('agent', id);
    },
    async addToken(role, principalId, hash, now, expiresAt = null) {
      const stored: StoredToken = { id: tokenId(hash), role, principalId, createdAt: now, expiresAt };
      const added = codeOf(
        'addToken',
        await run('addToken', [recordsKey(role), keys.registryTokens], [principalId, hash.toString('hex'), JSON.stringify(stored)]),
        [ScriptCode.Ok, ScriptCode.Missing, ScriptCode.Taken],
      );
      if (added === ScriptCode.Taken) throw new Error('this token is already registered');
      return added === ScriptCode.Ok ? { ...stored, lastUsedAt: null } : null;
    },
    async tokens(role, principalId) {
      if ((await client.hexists(recordsKey(role), principalId)) === 0) return null;
      const records = await withUse(await tokensOf(role, principalId));
      return records.sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
    },
    async expireToken(role, principalId, id, at) {
      for (;;) {
        const found = (await tokensOf(role, principalId)).find((f) => f.token.id === id);
        if (!found) return null;
        const next: StoredToken = { ...found.token, expiresAt: at };
        const swapped = codeOf('casField', await run('casField', [keys.registryTokens], [found.hex, found.raw, JSON.stringify(next)]), CAS);
        if (swapped === ScriptCode.Ok) return (await withUse([{ hex: found.hex, token: next }]))[0] as TokenRecord;
      }
    },
    async revokeToken(role, principalId, id) {
      const found = (await tokensOf(role, principalId)).find((f) => f.token.id === id);
      if (!found) return false;
      const [[, removed]] = (await client
        .multi()
        .hdel(keys.registryTokens, found.hex)
        .hdel(keys.registryTokenUse, found.hex)
        .exec()) as [[Error | null, number], unknown];
      return removed === 1;
    },
  };
}
