import { memoryBackend, relayOn, wait } from '../testing/in-process';

describe('liveness: the bus probe', () => {
  test('a subscription that stops receiving its own probes is made afresh, and only then', async () => {
    const backend = memoryBackend();
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
    // three beats per TTL: one every 100 ms
    const { relay, metrics } = relayOn(backend, { nodeTtlMs: 300 });
    const counted = async () => (await metrics.busResubscribes.get()).values[0]?.value ?? 0;
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
