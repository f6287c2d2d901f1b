import { randomBytes } from 'node:crypto';
import { createKeys } from '../../packages/gateway/src/backends/redis/keys';
import { createRedisDeliveryQueue } from '../../packages/gateway/src/backends/redis/delivery-queue';
import { createRedisEventStore } from '../../packages/gateway/src/backends/redis/event-store';
import { scriptRunner } from '../../packages/gateway/src/backends/redis/scripts';
import { useRedisServer } from '../support/redis-server';

// Issue 11.7: accepting writes only keys that something reads (no stream beside the events),
// and an agent deleted leaves no key of its own behind.

const server = useRedisServer();

test("an agent's keys are the queue's and its accept order, and forgetting the agent removes them all", async () => {
  const { redis, client } = server;
  const prefix = `${redis.prefix}-${randomBytes(3).toString('hex')}`;
  const keys = createKeys(prefix);
  const run = scriptRunner(client);
  const events = createRedisEventStore(client, run, keys, { finishedRetentionMs: 60_000 });
  const queue = createRedisDeliveryQueue(client, run, keys);
  const now = Date.now();
  await queue.attach('athena', { connId: 'c1', nodeId: 'n1', maxInFlight: 1 });
  for (const id of ['evt_1', 'evt_2']) {
    await events.append(
      { id, appId: 'portal', agentId: 'athena', threadId: 't1', sessionKey: 's', payloadRaw: '{}', acceptedAt: now, expiresAt: now + 60_000, appConnId: 'c1' },
      undefined,
      60_000,
    );
    const order = await events.nextOrder('athena');
    await queue.enqueue({ eventId: id, agentId: 'athena', sessionKey: 's', order, notBefore: 0, expiresAt: now + 60_000 });
  }
  // spelled out on purpose: it must also find keys that keys.ts does not list
  const agentKeys = async () => (await client.keys(`${prefix}:{agent:athena}*`)).sort();
  const written = await agentKeys();
  expect(written.length).toBeGreaterThan(0);
  expect(keys.agentAll('athena')).toEqual(expect.arrayContaining(written));

  await queue.forget('athena');
  expect(await agentKeys()).toEqual([]);
});
