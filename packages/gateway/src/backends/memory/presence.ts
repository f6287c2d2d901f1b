import type { ConnectionInfo, Presence } from '../../ports';

export function createMemoryPresence(): Presence {
  const conns = new Map<string, ConnectionInfo>();
  const byPrincipal = new Map<string, Set<string>>();
  const key = (role: string, id: string) => `${role}\u0000${id}`;
  const nodes = new Set<string>();

  return {
    // No await between the check and the add: nothing can take the last place in between.
    async add(info, limit) {
      const k = key(info.role, info.principalId);
      let set = byPrincipal.get(k);
      if (set?.has(info.connId)) return true;
      if ((set?.size ?? 0) >= limit) return false;
      if (!set) byPrincipal.set(k, (set = new Set()));
      conns.set(info.connId, info);
      set.add(info.connId);
      return true;
    },
    async remove(connId) {
      const info = conns.get(connId);
      if (!info) return;
      conns.delete(connId);
      const k = key(info.role, info.principalId);
      const set = byPrincipal.get(k);
      set?.delete(connId);
      if (set?.size === 0) byPrincipal.delete(k);
    },
    async count(role, principalId) {
      return byPrincipal.get(key(role, principalId))?.size ?? 0;
    },
    async get(connId) {
      return conns.get(connId) ?? null;
    },
    async list(role, principalId) {
      const ids = byPrincipal.get(key(role, principalId)) ?? new Set<string>();
      return [...ids].map((id) => conns.get(id) as ConnectionInfo);
    },
    async all() {
      return [...conns.values()].sort((a, b) => a.since - b.since);
    },
    async nodes() {
      return [...nodes];
    },
    async onlineAgents(agentIds) {
      return new Set(agentIds.filter((id) => byPrincipal.has(key('agent', id))));
    },
    // One process is one node: it cannot outlive itself, and there is no other node to reap.
    async heartbeat(nodeId) {
      nodes.add(nodeId);
      return true;
    },
    reapDeadNodes: async () => [],
  };
}
