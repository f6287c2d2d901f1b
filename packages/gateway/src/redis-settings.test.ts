import { ConfigError, loadConfig } from './config';

describe('where the Redis store is', () => {
  test('REDIS_URL is one primary, REDIS_CLUSTER_URLS the seeds of a cluster, neither the memory backend', () => {
    expect(loadConfig({ REDIS_URL: 'redis://r:6379' }).redis).toEqual({ url: 'redis://r:6379' });
    expect(loadConfig({ REDIS_CLUSTER_URLS: 'redis://a:7000, rediss://:pw@b:7001' }).redis).toEqual({
      clusterUrls: ['redis://a:7000', 'rediss://:pw@b:7001'],
    });
    expect(loadConfig({}).redis).toBeUndefined();
  });

  test('both set is refused: a node must not guess which store holds the truth', () => {
    expect(() => loadConfig({ REDIS_URL: 'redis://r:6379', REDIS_CLUSTER_URLS: 'redis://a:7000' })).toThrow(ConfigError);
  });

  test('a seed that is not a redis:// or rediss:// URL is refused, without echoing its password', () => {
    expect(() => loadConfig({ REDIS_CLUSTER_URLS: 'redis://a:7000,http://b:80' })).toThrow(/REDIS_CLUSTER_URLS/);
    expect(() => loadConfig({ REDIS_CLUSTER_URLS: 'rediss://u:secret@' })).toThrow(/u:\*\*\*@/);
    expect(() => loadConfig({ REDIS_CLUSTER_URLS: ' , ' })).toThrow(/no URL/);
  });

  test('RELAY_REDIS_MIN_REPLICAS defaults to 0 and is a count', () => {
    expect(loadConfig({}).redisMinReplicas).toBe(0);
    expect(loadConfig({ RELAY_REDIS_MIN_REPLICAS: '2' }).redisMinReplicas).toBe(2);
    expect(() => loadConfig({ RELAY_REDIS_MIN_REPLICAS: '-1' })).toThrow(/RELAY_REDIS_MIN_REPLICAS/);
  });
});
