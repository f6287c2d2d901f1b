import { startRedis, type RedisUnderTest } from '../support/redis-server';
import { connectionContract } from './connection.contract';
import { redisContracts } from './redis-contracts';

let redis: RedisUnderTest;

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.stop();
});

redisContracts('redis', () => ({ url: redis.url }));
connectionContract('redis', () => ({ url: redis.url }));
