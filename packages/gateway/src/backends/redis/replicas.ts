import { Cluster, type Redis } from 'ioredis';
import type { RedisClient } from './connect';
import { keySlot } from './slot';

/** Thrown when fewer replicas than asked acknowledged a write in time: the caller must not say it is durable. */
export class ReplicasBehindError extends Error {
  constructor(wanted: number, acked: number) {
    super(`only ${acked} of ${wanted} Redis replicas acknowledged the write in time`);
  }
}

/**
 * Called before writing to `keys`, returns what resolves once `minReplicas` replicas hold those
 * writes (Redis WAIT). WAIT counts the writes of the connection it is sent on, so it goes on the
 * very connection that carried them: the single client, or on a cluster the client of each key's
 * primary. That is why the primaries are taken before the writes: should a key's slot have moved
 * to another primary by the time of the WAIT (a failover), a WAIT there would vouch for nothing
 * that connection wrote, and the writes may have died with the old primary, so it rejects.
 *
 * WAIT blocks its connection, and every command behind it. So there is at most one WAIT per
 * connection at a time: callers arriving while one runs share the next one, which covers their
 * writes too (a group commit). With replicas down, the connection is held at most `timeoutMs`
 * per round, not once per caller.
 */
export function createReplicaWait(client: RedisClient, minReplicas: number, timeoutMs: number): ReplicaWait {
  const rounds = new Map<Redis, Round>();
  const on = (connection: Redis): Promise<void> => {
    let round = rounds.get(connection);
    if (!round) rounds.set(connection, (round = new Round(connection, minReplicas, timeoutMs)));
    return round.join();
  };
  return function replicated(keys: string[]): () => Promise<void> {
    if (minReplicas === 0) return async () => {};
    if (!(client instanceof Cluster)) return () => on(client);
    const primaries = keys.map((key) => [key, primaryFor(client, key)] as const);
    return async () => {
      for (const [key, primary] of primaries) {
        if (primaryFor(client, key) !== primary) throw new PrimaryChangedError(key);
      }
      await Promise.all([...new Set(primaries.map(([, primary]) => primary))].map(on));
    };
  };
}

/** See createReplicaWait: call with the keys before writing them, await what it returns after. */
export type ReplicaWait = (keys: string[]) => () => Promise<void>;

/** Thrown when a key's slot moved to another primary between a write and its WAIT: the write may be lost. */
export class PrimaryChangedError extends Error {
  constructor(key: string) {
    super(`the Redis Cluster primary of ${key} changed after the write: it may not have reached a replica`);
  }
}

/** The connection to the primary holding `key` on a cluster. */
export function primaryFor(cluster: Cluster, key: string): Redis {
  const nodeKey = cluster.slots[keySlot(key)]?.[0];
  const node = nodeKey && cluster.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === nodeKey);
  // The slot map is being refreshed (a failover): nobody can vouch for the write yet.
  if (!node) throw new Error(`no known Redis Cluster primary for ${key}: a failover is under way`);
  return node;
}

/** One WAIT in flight on a connection, and the callers queued for the next. */
class Round {
  private running = false;
  private next: { resolve: () => void; reject: (err: unknown) => void }[] = [];

  constructor(
    private readonly connection: Redis,
    private readonly minReplicas: number,
    private readonly timeoutMs: number,
  ) {}

  join(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.next.push({ resolve, reject });
      if (!this.running) void this.run();
    });
  }

  private async run(): Promise<void> {
    this.running = true;
    while (this.next.length > 0) {
      const waiting = this.next;
      this.next = [];
      try {
        const acked = Number(await this.connection.call('WAIT', this.minReplicas, this.timeoutMs));
        const err = acked >= this.minReplicas ? undefined : new ReplicasBehindError(this.minReplicas, acked);
        for (const w of waiting) (err ? w.reject(err) : w.resolve());
      } catch (err) {
        for (const w of waiting) w.reject(err);
      }
    }
    this.running = false;
  }
}
