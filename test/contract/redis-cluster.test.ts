import { startRedisCluster, type RedisClusterUnderTest } from '../support/redis-cluster';
import { connectionContract } from './connection.contract';
import { redisContracts } from './redis-contracts';

// Every port's contract on a real three-primary Redis Cluster: a script or MULTI whose keys
// span two slots fails here with CROSSSLOT, where one primary would take it.
let cluster: RedisClusterUnderTest;

beforeAll(async () => {
  cluster = await startRedisCluster();
}, 60_000);

redisContracts('redis-cluster', () => ({ clusterUrls: cluster.urls }));
connectionContract('redis-cluster', () => ({ clusterUrls: cluster.urls }));

// After the contracts' own afterAll, which closes their clients (see redis.test.ts).
afterAll(async () => {
  await cluster.stop();
});
