import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createKeys } from '../../packages/gateway/src/backends/redis/keys';
import { createRedisDeliveryQueue } from '../../packages/gateway/src/backends/redis/delivery-queue';
import { defineScripts } from '../../packages/gateway/src/backends/redis/scripts';
import { startRedis, type RedisUnderTest } from '../support/redis-server';
import { deliveryQueueContract } from './delivery-queue.contract';

let redis: RedisUnderTest;
const clients: Redis[] = [];

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.quit()));
  await redis.stop();
});

deliveryQueueContract('redis', async () => {
  const client = new Redis(redis.url);
  clients.push(client);
  // a fresh prefix per test: each starts from an empty queue on the shared server
  const keys = createKeys(`${redis.prefix}-${randomBytes(3).toString('hex')}`);
  const queue = createRedisDeliveryQueue(defineScripts(client), keys, (agentId) =>
    client.zcard(`${keys.agentBase(agentId)}:waiting`),
  );
  return { queue, teardown: async () => {} };
});
