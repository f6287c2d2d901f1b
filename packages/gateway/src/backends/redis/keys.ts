/**
 * Every Redis key the backend uses, in one place. An agent's queue keys share the hash tag
 * `{agent:<id>}`; `prefix` (RELAY_REDIS_PREFIX) lets several relays or test runs share a server.
 */
export function createKeys(prefix: string) {
  return {
    agentBase: (agentId: string) => `${prefix}:{agent:${agentId}}`,
    agentOrder: (agentId: string) => `${prefix}:{agent:${agentId}}:order`,
    agentStream: (agentId: string) => `${prefix}:{agent:${agentId}}:stream`,
    event: (eventId: string) => `${prefix}:event:${eventId}`,
    idempotency: (appId: string, key: string) => `${prefix}:idem:${appId}:${key}`,
    outbox: (appId: string) => `${prefix}:outbox:${appId}`,
    rate: (appId: string, window: number) => `${prefix}:rate:${appId}:${window}`,
    conns: `${prefix}:conns`,
    principalConns: (role: string, id: string) => `${prefix}:presence:${role}:${id}`,
    nodeConns: (nodeId: string) => `${prefix}:node-conns:${nodeId}`,
    nodeAlive: (nodeId: string) => `${prefix}:node:${nodeId}`,
    nodes: `${prefix}:nodes`,
    reapLock: (nodeId: string) => `${prefix}:reap:${nodeId}`,
    registryApps: `${prefix}:registry:apps`,
    registryAgents: `${prefix}:registry:agents`,
    registryTokens: `${prefix}:registry:tokens`,
    registryTokenUse: `${prefix}:registry:token-use`,
    registrySeeded: `${prefix}:registry:seeded`,
    timeline: (eventId: string) => `${prefix}:timeline:${eventId}`,
    finalsPending: `${prefix}:finals-pending`,
    busChannel: (nodeId: string) => `${prefix}:bus:${nodeId}`,
    bullPrefix: `${prefix}:bull`,
  };
}

export type Keys = ReturnType<typeof createKeys>;
