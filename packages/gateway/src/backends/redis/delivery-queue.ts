import { sharedInTurn, type RedisClient } from './connect';
import type { Assignment, DeliveryQueue, DispatchResult, QueueEntry, Removal } from '../../ports';
import { AGENT_QUEUE_WAITING, type Keys } from './keys';
import type { RunScript } from './scripts';
import type { ReplicaWait } from './replicas';

type RawAssignment = [string, string, string, number, number];
/** What a queue script's dispatch returns: assigned, expired (lua/include-dispatch.lua). */
export type RawDispatch = [RawAssignment[], string[]];

/** Idle sessions' holders kept per agent, unless told otherwise. */
export const DEFAULT_MAX_IDLE_SESSIONS = 10_000;

/** A queue script's dispatch for `agentId`, as the DeliveryQueue port gives it. */
export function dispatchResult(agentId: string, raw: RawDispatch): DispatchResult {
  return {
    assigned: raw[0].map(([eventId, connId, nodeId, attempt, seq]): Assignment => ({
      eventId, agentId, connId, nodeId, attempt: Number(attempt), seq: Number(seq),
    })),
    expired: raw[1],
  };
}

/** What removeEvent answers (lua/include-dispatch.lua): was, connId, then dispatch's assigned, expired. */
export type RawRemoval = [string, string, RawAssignment[], string[]];

/** removeEvent's answer for `agentId`, as DeliveryQueue.remove gives it. */
export function removal(agentId: string, [was, connId, assigned, expired]: RawRemoval): Removal {
  return {
    was: was === '' ? null : (was as 'waiting' | 'in-flight'),
    ...(connId !== '' ? { connId } : {}),
    ...dispatchResult(agentId, [assigned, expired]),
  };
}

export interface RedisDeliveryQueueOptions {
  maxIdleSessions?: number;
  /** Resolves once enough replicas hold the writes to these keys; an enqueued event is part of `accepted`. */
  replicated?: ReplicaWait;
}

/**
 * The DeliveryQueue rules as Lua scripts (lua/include-dispatch.lua): every operation reads and
 * changes one agent's queue atomically, so any number of nodes can share it.
 */
export function createRedisDeliveryQueue(client: RedisClient, run: RunScript, keys: Keys, options: RedisDeliveryQueueOptions = {}): DeliveryQueue {
  const maxIdleSessions = options.maxIdleSessions ?? DEFAULT_MAX_IDLE_SESSIONS;
  // Every accept counts its agent's queue: callers in one turn share a count.
  const countWaiting = sharedInTurn(client, (agentId) => client.zcard(keys.agentQueue(agentId)[AGENT_QUEUE_WAITING] as string));
  /** enqueue-15.lua; `after` '' for none. */
  const enqueue = async (e: QueueEntry, after: string): Promise<DispatchResult | null> => {
    const queue = keys.agentQueue(e.agentId);
    const durable = options.replicated?.(queue.slice(0, 1));
    const raw = (await run('enqueue', queue, [
      e.eventId, e.sessionKey, e.order, e.notBefore, e.expiresAt, Date.now(), maxIdleSessions, after,
    ])) as RawDispatch | null;
    await durable?.();
    return raw && dispatchResult(e.agentId, raw);
  };
  return {
    async enqueue(e) {
      const result = await enqueue(e, '');
      // enqueue-15.lua answers nil only for an event queued after another that is not in the queue
      if (!result) throw new Error(`enqueue of ${e.eventId} answered nothing, though it waits for no other event`);
      return result;
    },
    enqueueAfter: enqueue,
    async attach(agentId, slot) {
      const raw = (await run('attach', keys.agentQueue(agentId), [
        slot.connId, slot.nodeId, slot.maxInFlight, Date.now(), maxIdleSessions,
      ])) as RawDispatch;
      return dispatchResult(agentId, raw);
    },
    async detach(agentId, connId) {
      const raw = (await run('detach', keys.agentQueue(agentId), [connId, Date.now(), maxIdleSessions])) as RawDispatch;
      return dispatchResult(agentId, raw);
    },
    async retryLater(agentId, connId, eventId, notBefore) {
      const raw = (await run('retryLater', keys.agentQueue(agentId), [
        connId, eventId, notBefore, Date.now(), maxIdleSessions,
      ])) as RawDispatch;
      return dispatchResult(agentId, raw);
    },
    async remove(agentId, eventId, onlyIfWaiting) {
      const raw = (await run('remove', keys.agentQueue(agentId), [eventId, onlyIfWaiting ? '1' : '0', Date.now(), maxIdleSessions])) as RawRemoval;
      return removal(agentId, raw);
    },
    async pump(agentId) {
      return dispatchResult(agentId, (await run('pump', keys.agentQueue(agentId), [Date.now(), maxIdleSessions])) as RawDispatch);
    },
    waiting: countWaiting,
    async events(agentId) {
      return (await run('queuedEvents', keys.agentQueue(agentId), [])) as string[];
    },
    async holder(agentId, eventId) {
      const connId = (await run('holder', keys.agentQueue(agentId), [eventId])) as string | null;
      return connId ?? null;
    },
    async attempts(agentId, eventId) {
      return (await run('attempts', keys.agentQueue(agentId), [eventId])) as number;
    },
    async forget(agentId) {
      await client.del(...keys.agentAll(agentId));
    },
  };
}
