import { connectRedis } from '../../packages/gateway/src/backends/redis/connect';
import { startRedis, type RedisUnderTest } from '../support/redis-server';
import { redisContracts } from './redis-contracts';

let redis: RedisUnderTest;

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.stop();
});

redisContracts('redis', (options) => connectRedis({ url: redis.url }, options));
