import { fakeConnection, memoryBackend, relayOn, until, wait } from '../testing/in-process';

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

  test('no probe goes while a resubscribe is being made: one lost to a slow subscription would start another, and so on for ever', async () => {
    const backend = memoryBackend();
    let deaf = false;
    let resubscribes = 0;
    const publish = backend.bus.publish.bind(backend.bus);
    backend.bus.publish = async (nodeId, message) => {
      if (deaf && message.kind === 'probe') return;
      return publish(nodeId, message);
    };
    backend.bus.resubscribe = async () => {
      resubscribes += 1;
      await wait(350); // beats go on meanwhile, one every 100 ms
      deaf = false;
    };
    const { relay } = relayOn(backend, { nodeTtlMs: 300 });
    await wait(300);
    deaf = true;
    await until(() => resubscribes === 1);
    await wait(1_000);
    expect(resubscribes).toBe(1);
    await relay.drain();
    await backend.close();
  });
});

describe('liveness: reaping after the backend was away', () => {
  /** The backend with its reaps recorded (when each began) and its readiness and heartbeat under the test's control. */
  const watched = () => {
    const backend = memoryBackend();
    const reaps: number[] = [];
    let ready = true;
    let stall: Promise<void> | undefined;
    backend.ready = () => ready;
    const heartbeat = backend.presence.heartbeat.bind(backend.presence);
    backend.presence.heartbeat = async (nodeId, ttlMs) => {
      await stall;
      return heartbeat(nodeId, ttlMs);
    };
    backend.presence.reapDeadNodes = async () => {
      reaps.push(Date.now());
      return [];
    };
    return {
      backend,
      reaps,
      setReady: (value: boolean) => (ready = value),
      setStall: (value: Promise<void> | undefined) => (stall = value),
    };
  };
  const TTL = 600; // a beat every 200 ms
  let stop: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await stop?.();
    stop = undefined;
  });
  const start = (w: ReturnType<typeof watched>) => {
    const { relay } = relayOn(w.backend, { nodeTtlMs: TTL });
    stop = async () => {
      await relay.drain();
      await w.backend.close();
    };
  };

  test('a node that could not beat reaps nobody for one TTL once it can again, then reaps as before', async () => {
    const w = watched();
    start(w);
    await until(() => w.reaps.length > 0);

    w.setReady(false); // the others could not beat either: their keys lapse as this one's does
    await wait(TTL);
    const back = Date.now();
    w.setReady(true);
    await until(() => w.reaps.some((t) => t > back), 5_000);
    expect(w.reaps.filter((t) => t > back && t < back + TTL)).toEqual([]);
  });

  test('so does a node whose heartbeat hung past two beats', async () => {
    const w = watched();
    start(w);
    await until(() => w.reaps.length > 0);

    let release = () => {};
    w.setStall(new Promise<void>((resolve) => (release = resolve)));
    await wait(TTL);
    const back = Date.now();
    w.setStall(undefined);
    release();
    await until(() => w.reaps.some((t) => t > back), 5_000);
    expect(w.reaps.filter((t) => t > back && t < back + TTL)).toEqual([]);
  });
});

describe('liveness: finals held while this node looked gone', () => {
  test('reach its open app connections once it beats again, without a reconnect', async () => {
    const backend = memoryBackend();
    let ready = true;
    backend.ready = () => ready;
    const { relay } = relayOn(backend, { nodeTtlMs: 600 });
    try {
      const app = fakeConnection('n1.9', 'app', 'portal');
      relay.opened(app);
      await wait(50);
      ready = false; // Redis away: this node's key lapses, so a final for its app was held
      await backend.outbox.put('portal', {
        eventId: 'evt_held',
        text: JSON.stringify({ type: 'reply', event_id: 'evt_held', content: 'kept' }),
        heldUntil: Date.now() + 60_000,
      });
      await wait(600);
      expect(app.frames.filter((f) => f.event_id === 'evt_held')).toEqual([]);
      ready = true;
      await until(() => app.frames.some((f) => f.event_id === 'evt_held'), 3_000);
      expect(app.frames.filter((f) => f.event_id === 'evt_held')).toHaveLength(1);
    } finally {
      await relay.drain();
      await backend.close();
    }
  });

  test('after the bus was deaf, too: a final another node held for its app reaches it', async () => {
    const backend = memoryBackend();
    let deaf = false;
    const publish = backend.bus.publish.bind(backend.bus);
    backend.bus.publish = async (nodeId, message) => {
      if (deaf && message.kind === 'probe') return; // connected, yet nothing arrives
      return publish(nodeId, message);
    };
    backend.bus.resubscribe = async () => {
      deaf = false;
    };
    const { relay } = relayOn(backend, { nodeTtlMs: 300 });
    try {
      const app = fakeConnection('n1.9', 'app', 'portal');
      relay.opened(app);
      await wait(50);
      deaf = true; // another node's final for this app reaches nobody, so it is held
      await backend.outbox.put('portal', {
        eventId: 'evt_unheard',
        text: JSON.stringify({ type: 'reply', event_id: 'evt_unheard', content: 'kept' }),
        heldUntil: Date.now() + 60_000,
      });
      await until(() => app.frames.some((f) => f.event_id === 'evt_unheard'), 3_000);
      expect(deaf).toBe(false);
      expect(app.frames.filter((f) => f.event_id === 'evt_unheard')).toHaveLength(1);
    } finally {
      await relay.drain();
      await backend.close();
    }
  });
});
