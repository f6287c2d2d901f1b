import type { RedisTarget } from './backends/redis/connect';

/**
 * Where the Redis store is, from REDIS_URL (one primary) or REDIS_CLUSTER_URLS (a Redis
 * Cluster's seed nodes, comma-separated), and RELAY_REDIS_MIN_REPLICAS. Both URLs set is an
 * error: a node must not guess which of two stores holds the truth.
 */
export function readRedisSettings(
  redisUrl: string,
  clusterUrls: string,
  minReplicas: number,
  fail: (message: string) => Error,
): { target: RedisTarget | undefined; minReplicas: number } {
  if (redisUrl && clusterUrls) throw fail('Set REDIS_URL (one Redis primary) or REDIS_CLUSTER_URLS (a Redis Cluster), not both');
  if (redisUrl) return { target: { url: redisUrl }, minReplicas };
  if (!clusterUrls) return { target: undefined, minReplicas };
  const urls = clusterUrls.split(',').map((u) => u.trim()).filter(Boolean);
  for (const url of urls) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    if (!parsed || (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') || !parsed.hostname) {
      throw fail(`REDIS_CLUSTER_URLS must list redis:// or rediss:// URLs with a host, got "${url.replace(/\/\/([^@/]*):[^@/]*@/, '//$1:***@')}"`);
    }
  }
  if (urls.length === 0) throw fail('REDIS_CLUSTER_URLS lists no URL');
  return { target: { clusterUrls: urls }, minReplicas };
}
