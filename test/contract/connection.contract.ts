import type { Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { Cluster, type Redis } from 'ioredis';
import { connectRedis, type RedisClient, type RedisTarget } from '../../packages/gateway/src/backends/redis/connect';
import { Registry } from 'prom-client';
import { createRedisMetrics, timeCommands } from '../../packages/gateway/src/backends/redis/metrics';
import { scriptNamesByFirstArg, scriptRunner } from '../../packages/gateway/src/backends/redis/scripts';
import { primaryFor } from '../../packages/gateway/src/backends/redis/replicas';
import { atTurnEnd } from '../../packages/gateway/src/turn-end';

/** The connection of `client` that serves `key`: the client itself, or the cluster node holding the key's slot. */
const connectionFor = (client: RedisClient, key: string): Redis => (client instanceof Cluster ? primaryFor(client, key) : client);

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/**
 * How the node's command connection talks to Redis (connect.ts batchWrites, scripts.ts): the
 * commands of one turn of the event loop leave in one write, a later turn's leave without
 * waiting for the replies to earlier ones, and a script the server has not seen still runs.
 */
export function connectionContract(name: string, target: () => RedisTarget) {
  describe(`${name}: the command connection`, () => {
    const clients: RedisClient[] = [];
    const open = () => {
      const client = connectRedis(target(), { batchWrites: true });
      clients.push(client);
      return client;
    };
    afterAll(() => {
      for (const c of clients) c.disconnect();
    });
    const key = () => `{conn-contract-${randomBytes(4).toString('hex')}}:k`;

    test('the commands called in one turn leave in one write, from every callback of the turn', async () => {
      const client = open();
      const k = key();
      await client.set(k, '0');
      const socket = connectionFor(client, k).stream as Socket & { _write: unknown; _writev: unknown };
      let writes = 0;
      for (const method of ['_write', '_writev'] as const) {
        const original = socket[method] as (...args: unknown[]) => unknown;
        socket[method] = function (this: Socket, ...args: unknown[]) {
          writes += 1;
          return original.apply(this, args);
        };
      }
      await Promise.all([client.incr(k), client.incr(k), client.get(k)]);
      expect(writes).toBe(1);
      expect(await client.get(k)).toBe('2');

      // Callbacks of one turn of the loop (two immediates of one check phase, then the turn-end
      // work) too: ticks run between the two, so a connection uncorked on the next tick wrote once
      // for each. Not two timers: a timer set a millisecond after the other under load is due a
      // turn later.
      writes = 0;
      const sent = await new Promise<Array<Promise<unknown>>>((resolve) => {
        const calls: Array<Promise<unknown>> = [];
        setImmediate(() => calls.push(client.incr(k)));
        setImmediate(() => {
          calls.push(client.incr(k));
          atTurnEnd(() => {
            calls.push(client.incr(k));
            resolve(calls);
          });
        });
      });
      expect(await Promise.all(sent)).toEqual([3, 4, 5]);
      expect(writes).toBe(1);
    });

    test("a turn's commands leave while an earlier turn's still wait for their replies", async () => {
      const client = open();
      const pauser = open();
      const k = key();
      await Promise.all([client.set(k, '0'), pauser.ping()]);
      const pausing = connectionFor(pauser, k);
      const socket = connectionFor(client, k).stream as Socket;
      await pausing.call('CLIENT', 'PAUSE', '10000', 'WRITE'); // writes get no reply until unpaused
      try {
        const first = client.incr(k);
        await nextTurn();
        const sent = socket.bytesWritten;
        const second = client.incr(k);
        await nextTurn();
        // ioredis' auto-pipelining would hold the second until the first is answered
        expect(socket.bytesWritten).toBeGreaterThan(sent);
        await pausing.call('CLIENT', 'UNPAUSE');
        expect(await Promise.all([first, second])).toEqual([1, 2]);
      } finally {
        await pausing.call('CLIENT', 'UNPAUSE');
      }
    });

    test('a script the server does not know yet runs (a restarted or promoted primary), timed under its name', async () => {
      const client = open();
      const metrics = createRedisMetrics(new Registry(), () => true);
      timeCommands(client, metrics.commandDuration, scriptNamesByFirstArg());
      const run = scriptRunner(client);
      const k = `{conn-contract-${randomBytes(4).toString('hex')}}:rate`;
      expect(await run('admitEvent', [k], [10, 60_000])).toEqual([1]);
      await connectionFor(client, k).script('FLUSH');
      expect(await run('admitEvent', [k], [10, 60_000])).toEqual([2]); // EVALSHA refused, then EVAL
      expect(await run('admitEvent', [k], [10, 60_000])).toEqual([3]);
      const counts = new Map(
        (await metrics.commandDuration.get()).values.filter((v) => v.metricName?.endsWith('_count')).map((v) => [v.labels.command, v.value]),
      );
      expect(counts.get('script:admitEvent')).toBe(3); // the EVAL too, not under `eval`
      expect([...counts.keys()].filter((command) => command === 'eval' || command === 'evalsha' || command === 'script:unknown')).toEqual([]);
    });
  });
}
