import { randomBytes } from 'node:crypto';
import { startRedis, type RedisUnderTest } from './redis-server';

/**
 * The backends the conformance suite runs against. RELAY_TEST_BACKENDS (e.g. "redis") narrows
 * the list for a quicker local run.
 */
export interface BackendUnderTest {
  name: string;
  /** Environment for a relay node on this backend: may start what it needs; each call is a clean slate. */
  env(): Promise<Record<string, string>>;
  /** Stops whatever env() started. */
  teardown(): Promise<void>;
}

export const memoryBackend: BackendUnderTest = {
  name: 'memory',
  env: async () => ({}),
  teardown: async () => {},
};

/** A redis-server of this test file's own; every env() gets a fresh key prefix on it. */
export function redisBackend(): BackendUnderTest {
  let server: RedisUnderTest | undefined;
  return {
    name: 'redis',
    async env() {
      server ??= await startRedis();
      return { REDIS_URL: server.url, RELAY_REDIS_PREFIX: `${server.prefix}-${randomBytes(3).toString('hex')}` };
    },
    async teardown() {
      await server?.stop();
      server = undefined;
    },
  };
}

export function backendsUnderTest(): BackendUnderTest[] {
  const only = process.env.RELAY_TEST_BACKENDS?.split(',').map((s) => s.trim());
  return [memoryBackend, redisBackend()].filter((b) => !only || only.includes(b.name));
}
