import { randomBytes } from 'node:crypto';
import type { DeliveryQueue } from '@relay/gateway';
import { createMemoryDeliveryQueue } from '../../packages/gateway/src/backends/memory/delivery-queue';
import { createKeys } from '../../packages/gateway/src/backends/redis/keys';
import { createRedisDeliveryQueue } from '../../packages/gateway/src/backends/redis/delivery-queue';
import { scriptRunner } from '../../packages/gateway/src/backends/redis/scripts';
import { useRedisServer } from '../support/redis-server';

// The memory queue is the reference the Lua scripts follow (include-dispatch.lua). Beyond the
// contract's cases, both run the same random operations (many sessions, small maxInFlight,
// holds, detaches, removals, a small idle-session bound) and must answer alike at every step.
// No step depends on the clock: holds are far in the future or none.

const server = useRedisServer();

test('memory and Redis assign alike on random runs', async () => {
  const { redis, client } = server;
  const FAR = Date.now() + 3_600_000;
  for (let run = 1; run <= 40; run += 1) {
    let seed = run;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const memory = createMemoryDeliveryQueue(Date.now, 3);
    const redisQueue = createRedisDeliveryQueue(client, scriptRunner(client), createKeys(`${redis.prefix}-${randomBytes(3).toString('hex')}`), { maxIdleSessions: 3 });
    const both = async <T>(what: string, op: (q: DeliveryQueue) => Promise<T>) => {
      const [a, b] = [await op(memory), await op(redisQueue)];
      expect({ run, what, result: b }).toEqual({ run, what, result: a });
    };
    let order = 0;
    const events: string[] = [];
    const conns: string[] = [];
    for (let step = 0; step < 120; step += 1) {
      const op = rnd(10);
      if (op < 5) {
        const e = { eventId: `e${++order}`, agentId: 'x', sessionKey: `s${rnd(5)}`, order, notBefore: rnd(8) === 0 ? FAR : 0, expiresAt: FAR };
        events.push(e.eventId);
        await both(`enqueue ${JSON.stringify(e)}`, (q) => q.enqueue(e));
      } else if (op === 5 && conns.length < 3) {
        const slot = { connId: `c${step}`, nodeId: 'n1', maxInFlight: 1 + rnd(3) };
        conns.push(slot.connId);
        await both(`attach ${JSON.stringify(slot)}`, (q) => q.attach('x', slot));
      } else if (op === 6 && conns.length > 0) {
        const connId = conns.splice(rnd(conns.length), 1)[0] as string;
        await both(`detach ${connId}`, (q) => q.detach('x', connId));
      } else if (op <= 8 && events.length > 0) {
        const eventId = events[rnd(events.length)] as string;
        const onlyIfWaiting = rnd(2) === 0;
        await both(`remove ${eventId} ${onlyIfWaiting}`, (q) => q.remove('x', eventId, onlyIfWaiting));
      } else {
        await both('pump', (q) => q.pump('x'));
      }
      await both('waiting', (q) => q.waiting('x'));
    }
    await both('events', async (q) => (await q.events('x')).sort());
  }
});
