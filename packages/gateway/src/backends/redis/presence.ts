import type { RedisClient } from './connect';
import type { ConnectionInfo, Presence } from '../../ports';
import type { Keys } from './keys';
import type { RunScript } from './scripts';
import { LINES_MARK } from './bus-lines';

/**
 * How long a node found alive is trusted locally before asking Redis again. Only "alive" is
 * remembered: a node found dead may beat again at any moment (its key lapsed while Redis was
 * down, or it was paused), and a remembered "dead" would hide the sockets it registers anew, so
 * finals for its apps would be held instead of sent. A node that is really gone is reaped, and
 * its entries with it, so asking again about it is rare.
 */
export const ALIVE_CACHE_MS = 1_000;
const REAP_LOCK_MS = 30_000;

/**
 * Connections in Redis: a hash of all of them, a set per app/agent and a set per node. A node
 * proves it is alive with a key that expires unless refreshed; entries of a node whose key has
 * lapsed are never returned, and the first node to notice removes them. The app's or agent's
 * set is also its count of places (SCARD), so admission never reads the whole list.
 */
export function createRedisPresence(client: RedisClient, run: RunScript, keys: Keys): Presence {
  /** nodeId → when it was last found alive. */
  const aliveSeen = new Map<string, number>();
  const beating = new Set<string>();

  const nodesAlive = async (nodeIds: string[]): Promise<Set<string>> => {
    const now = Date.now();
    const alive = new Set<string>();
    const unknown: string[] = [];
    for (const id of new Set(nodeIds)) {
      const seenAt = aliveSeen.get(id);
      if (seenAt !== undefined && now - seenAt <= ALIVE_CACHE_MS) alive.add(id);
      else unknown.push(id);
    }
    const answers = await Promise.all(unknown.map((id) => client.exists(keys.nodeAlive(id))));
    unknown.forEach((id, i) => {
      if (answers[i] === 1) {
        aliveSeen.set(id, now);
        alive.add(id);
      } else aliveSeen.delete(id);
    });
    return alive;
  };

  const liveOnly = async (infos: ConnectionInfo[]): Promise<ConnectionInfo[]> => {
    const alive = await nodesAlive(infos.map((i) => i.nodeId));
    return infos.filter((i) => alive.has(i.nodeId));
  };

  const remove = async (info: ConnectionInfo) => {
    await client
      .multi()
      .hdel(keys.conns, info.connId)
      .srem(keys.principalConns(info.role, info.principalId), info.connId)
      .srem(keys.nodeConns(info.nodeId), info.connId)
      .exec();
  };

  const read = async (connIds: string[]): Promise<ConnectionInfo[]> => {
    if (connIds.length === 0) return [];
    const raw = await client.hmget(keys.conns, ...connIds);
    return raw.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as ConnectionInfo);
  };

  return {
    async add(info, limit) {
      const added = await run(
        'addConnection',
        [keys.conns, keys.principalConns(info.role, info.principalId), keys.nodeConns(info.nodeId)],
        [info.connId, JSON.stringify(info), limit],
      );
      return added === 1;
    },
    async count(role, principalId) {
      return client.scard(keys.principalConns(role, principalId));
    },
    async remove(connId) {
      const [info] = await read([connId]);
      if (info) await remove(info);
    },
    async get(connId) {
      const [info] = await liveOnly(await read([connId]));
      return info ?? null;
    },
    async list(role, principalId) {
      const ids = await client.smembers(keys.principalConns(role, principalId));
      return (await liveOnly(await read(ids))).sort((a, b) => a.since - b.since || (a.connId < b.connId ? -1 : 1));
    },
    async all() {
      const raw = Object.values(await client.hgetall(keys.conns)).map((r) => JSON.parse(r) as ConnectionInfo);
      return (await liveOnly(raw)).sort((a, b) => a.since - b.since || (a.connId < b.connId ? -1 : 1));
    },
    async nodes() {
      const ids = await client.smembers(keys.nodes);
      const alive = await Promise.all(ids.map((id) => client.exists(keys.nodeAlive(id))));
      return ids.filter((_, i) => alive[i] === 1);
    },
    async onlineAgents(agentIds) {
      const lists = await Promise.all(agentIds.map((id) => this.list('agent', id)));
      return new Set(agentIds.filter((_, i) => (lists[i] as ConnectionInfo[]).length > 0));
    },
    async heartbeat(nodeId, ttlMs) {
      // One transaction, so no reaper can claim this node between the reads and the refresh.
      const [[, previous], [, claimed], [, added]] = (await client
        .multi()
        .set(keys.nodeAlive(nodeId), `${Date.now()} ${LINES_MARK}`, 'PX', ttlMs, 'GET')
        .exists(keys.reapLock(nodeId))
        .sadd(keys.nodes, nodeId)
        .exec()) as [[Error | null, string | null], [Error | null, number], [Error | null, number]];
      aliveSeen.set(nodeId, Date.now());
      const first = !beating.has(nodeId);
      beating.add(nodeId);
      if (first || previous !== null) return true;
      // The key lapsed. That alone proves nothing: while Redis was unreachable, no node could
      // reap this one either. It was given up for dead only if a reaper claimed it (the lock
      // is held) or finished with it (it was gone from the node set).
      if (claimed === 0 && added === 0) return true;
      // Given up for dead and back: if it dies for good now, the next reaper must not wait for
      // the lock the last one took (REAP_LOCK_MS) before handing back what its agents hold.
      await client.del(keys.reapLock(nodeId));
      return false;
    },
    async reapDeadNodes(selfNodeId, handBack) {
      const reaped: ConnectionInfo[] = [];
      for (const nodeId of await client.smembers(keys.nodes)) {
        if (nodeId === selfNodeId || (await client.exists(keys.nodeAlive(nodeId))) === 1) continue;
        const lock = keys.reapLock(nodeId);
        // A reap of ours that was cut short (Redis went away mid-way) is taken up again on our
        // next beat; another node's waits for its lock to lapse.
        const claimed = (await client.set(lock, selfNodeId, 'PX', REAP_LOCK_MS, 'NX')) === 'OK' || (await client.get(lock)) === selfNodeId;
        if (!claimed) continue;
        // It may have beaten between the look and the lock: its heartbeat saw no lock then, so
        // it kept its sockets, and its entries must stay.
        if ((await client.exists(keys.nodeAlive(nodeId))) === 1) {
          await client.del(lock);
          continue;
        }
        const infos = await read(await client.smembers(keys.nodeConns(nodeId)));
        for (const info of infos) {
          // What it held is handed back before its entry goes, so a reap cut short leaves the
          // rest to be found again and loses nothing.
          await handBack(info);
          await remove(info);
          reaped.push(info);
        }
        await client.multi().del(keys.nodeConns(nodeId)).srem(keys.nodes, nodeId).exec();
        aliveSeen.delete(nodeId);
      }
      return reaped;
    },
  };
}
