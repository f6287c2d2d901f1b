import pino from 'pino';
import { createMemoryBackend } from '../backends/memory';
import { toRegistryData } from '../registry-file';
import { createMetrics } from './metrics';
import { createRelay } from './relay';

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('liveness: the bus probe', () => {
  test('a subscription that stops receiving its own probes is made afresh, and only then', async () => {
    const backend = createMemoryBackend({ registry: toRegistryData({}, 1), rateWindowMs: 60_000 });
    let deaf = false;
    let resubscribes = 0;
    const publish = backend.bus.publish.bind(backend.bus);
    backend.bus.publish = async (nodeId, message) => {
      if (deaf && message.kind === 'probe') return; // connected, yet nothing arrives
      return publish(nodeId, message);
    };
    backend.bus.resubscribe = async () => {
      resubscribes += 1;
      deaf = false; // subscribing afresh cures it
    };
    const metrics = createMetrics();
    const counted = async () => (await metrics.busResubscribes.get()).values[0]?.value ?? 0;
    const relay = createRelay({
      nodeId: 'n1',
      backend,
      log: pino({ level: 'silent' }),
      metrics,
      // three beats per TTL: one every 100 ms
      limits: { replyTimeoutMs: 60_000, maxTtlMs: 60_000, finalRetentionMs: 60_000, idempotencyTtlMs: 60_000, nodeTtlMs: 300 },
    });
    await wait(450);
    expect(resubscribes).toBe(0); // probes come back: nothing to do
    expect(await counted()).toBe(0);
    // each probe that came back was timed
    expect((await metrics.busRoundtrip.get()).values.find((v) => v.metricName === 'relay_bus_roundtrip_seconds_count')?.value).toBeGreaterThan(0);

    deaf = true;
    await wait(600);
    expect(resubscribes).toBe(1);
    await wait(450);
    expect(resubscribes).toBe(1); // cured: no more
    expect(await counted()).toBe(1);

    await relay.drain();
    await backend.close();
  });
});
