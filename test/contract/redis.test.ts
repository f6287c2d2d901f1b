import { startRedis, type RedisUnderTest } from '../support/redis-server';
import { connectionContract } from './connection.contract';
import { redisContracts } from './redis-contracts';

let redis: RedisUnderTest;

beforeAll(async () => {
  redis = await startRedis();
});

redisContracts('redis', () => ({ url: redis.url }));
connectionContract('redis', () => ({ url: redis.url }));

// After the contracts' own afterAll, which closes their clients: jest runs a block's hooks in
// the order they were declared, and ioredis keeps a 2 s timer for a client it closes after its
// server has gone, which held the test process past its results.
afterAll(async () => {
  await redis.stop();
});
