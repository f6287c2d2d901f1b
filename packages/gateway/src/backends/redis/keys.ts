/**
 * Every Redis key the backend uses, in one place: no other file (Lua included) spells one.
 * `prefix` (RELAY_REDIS_PREFIX) lets several relays or test runs share a server.
 *
 * On Redis Cluster a script or MULTI may only touch keys of one hash slot, so the keys each one
 * touches together share a hash tag (the part in braces): an agent's queue `{agent:<id>}`, an
 * app's outbox, idempotency keys and rate counters `{app:<id>}`, and the registry, presence
 * and the Dashboard's activity one tag each. An event's record and timeline are keys of their
 * own: every step on them is one key. Accept spans two slots (see docs/guarantees.md).
 */
export function createKeys(prefix: string) {
  const agent = (agentId: string) => `${prefix}:{agent:${agentId}}`;
  const app = (appId: string) => `${prefix}:{app:${appId}}`;
  const presence = `${prefix}:{presence}`;
  const registry = `${prefix}:{registry}`;
  const activity = `${prefix}:{activity}`;
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
    idempotency: (appId: string, key: string) => `${app(appId)}:idem:${key}`,
    outbox: (appId: string) => `${app(appId)}:outbox`,
    /** The app's latest webhook tries, newest first (webhook-log.ts). */
    webhookTries: (appId: string) => `${app(appId)}:webhook-tries`,
    rate: (appId: string, window: number) => `${app(appId)}:rate:${window}`,
    conns: `${presence}:conns`,
    principalConns: (role: string, id: string) => `${presence}:${role}:${id}`,
    nodeConns: (nodeId: string) => `${presence}:node-conns:${nodeId}`,
    nodeAlive: (nodeId: string) => `${presence}:node:${nodeId}`,
    nodes: `${presence}:nodes`,
    reapLock: (nodeId: string) => `${presence}:reap:${nodeId}`,
    registryApps: `${registry}:apps`,
    registryAgents: `${registry}:agents`,
    registryTokens: `${registry}:tokens`,
    registryTokenUse: `${registry}:token-use`,
    registrySeeded: `${registry}:seeded`,
    timeline: (eventId: string) => `${prefix}:timeline:${eventId}`,
    activityMinute: (minute: number) => `${activity}:minute:${minute}`,
    activityEvent: (eventId: string) => `${activity}:event:${eventId}`,
    activityRecent: `${activity}:recent`,
    finalsPending: `${prefix}:finals-pending`,
    busChannel: (nodeId: string) => `${prefix}:bus:${nodeId}`,
    /** BullMQ's keys are `<bullPrefix>:<queue>:…`: the tag keeps each queue's keys on one slot, as BullMQ needs on a cluster. */
    bullPrefix: `{${prefix}:bull}`,
    /** The same for a lane of the scheduler on a Redis Cluster, one tag per lane (see scheduler.ts). */
    bullLanePrefix: (n: number) => `{${prefix}:bull:${n}}`,
    /** Event expiries due, of one scheduler lane (a bull prefix above, so its slot): see expiry-sweep.ts. */
    expiries: (lanePrefix: string) => `${lanePrefix}:expiries`,
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
