import { TestClient, UpgradeRefused } from '../support/client';
import { startRedis, type RedisUnderTest } from '../support/redis-server';
import { startRelay, type RelayProcess } from '../support/relay-process';
import { testRegistry } from '../support/registry';

/** With Redis, the registry file is seeded into Redis; it must stay the whole truth. */
describe('registry seeding on Redis', () => {
  let redis: RedisUnderTest;
  const relays: RelayProcess[] = [];

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    for (const relay of relays) await relay.stop();
    await redis.stop();
  });

  test('a token removed from the registry file stops working once a node starts with the new file', async () => {
    const env = { REDIS_URL: redis.url, RELAY_REDIS_PREFIX: redis.prefix };
    const first = testRegistry();
    const old = await startRelay({ registry: first.registry, env });
    relays.push(old);
    const before = await TestClient.connect(old.url, 'app', first.tokens.portal);
    await before.close();
    expect(await old.stop()).toBe(0);

    // Same apps and agents, new tokens: a rotation done by editing the file.
    const second = testRegistry();
    const updated = await startRelay({ registry: second.registry, env });
    relays.push(updated);
    const refused = await TestClient.connect(updated.url, 'app', first.tokens.portal).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(UpgradeRefused);
    expect((refused as UpgradeRefused).status).toBe(401);
    const now = await TestClient.connect(updated.url, 'app', second.tokens.portal);
    await now.close();
  });
});
