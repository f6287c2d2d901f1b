/**
 * Every Redis key the backend uses, in one place: no other file (Lua included) spells one. An
 * agent's keys share the hash tag `{agent:<id>}`, so one script can touch all of them on one
 * Redis Cluster slot; `prefix` (RELAY_REDIS_PREFIX) lets several relays or test runs share a
 * server.
 */
export function createKeys(prefix: string) {
  const agent = (agentId: string) => `${prefix}:{agent:${agentId}}`;
  const agentOrder = (agentId: string) => `${agent(agentId)}:order`;
  /**
   * The delivery queue of one agent, in the order every queue script takes them as KEYS
   * (lua/include-dispatch.lua names and describes each).
   */
  const agentQueue = (agentId: string) => AGENT_QUEUE_PARTS.map((part) => `${agent(agentId)}:${part}`);
  return {
    agentOrder,
    agentQueue,
    /** Every key of an agent, for deleting the agent. */
    agentAll: (agentId: string) => [agentOrder(agentId), ...agentQueue(agentId)],
    /** An event's recorded tokens, a hash: `a` its current attempt, `<attempt>.<seq>` each token. */
    stream: (agentId: string, eventId: string) => `${agent(agentId)}:stream:${eventId}`,
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
    activityMinute: (minute: number) => `${prefix}:activity:minute:${minute}`,
    activityEvent: (eventId: string) => `${prefix}:activity:event:${eventId}`,
    activityRecent: `${prefix}:activity:recent`,
    finalsPending: `${prefix}:finals-pending`,
    busChannel: (nodeId: string) => `${prefix}:bus:${nodeId}`,
    bullPrefix: `${prefix}:bull`,
  };
}

/** The delivery queue's keys of an agent, in KEYS order (see lua/include-dispatch.lua). */
const AGENT_QUEUE_PARTS = [
  'entries',
  'where',
  'slots',
  'slotorder',
  'inflight',
  'holders',
  'holders-lru',
  'holders-of',
  'sload',
  'seq',
  'sessq',
  'ready',
  'held',
  'parked',
  'sstate',
] as const;

/** Index of the queue's waiting events (`sessq`) in `agentQueue`, for counting them. */
export const AGENT_QUEUE_WAITING = AGENT_QUEUE_PARTS.indexOf('sessq');

/** How many KEYS every delivery-queue script takes. */
export const AGENT_QUEUE_KEY_COUNT = AGENT_QUEUE_PARTS.length;

export type Keys = ReturnType<typeof createKeys>;
