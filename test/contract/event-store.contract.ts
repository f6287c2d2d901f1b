import type { EventStore, NewEvent } from '../../packages/gateway/src/ports';

export interface EventStoreUnderTest {
  events: EventStore;
  /** What the store was made with: how long a finished event's record is kept. */
  finishedRetentionMs: number;
  /** Lets `ms` pass, and the store forget what it keeps no longer (the memory store sweeps). */
  later(ms: number): Promise<void>;
  teardown(): Promise<void>;
}

let counter = 0;

/** A new event of portal's to athena, each with an id of its own; also used by test/redis/event-keys.test.ts. */
export function newEvent(overrides: Partial<NewEvent> = {}): NewEvent {
  const now = Date.now();
  return {
    id: `evt_contract_${process.pid}_${++counter}`,
    appId: 'portal',
    agentId: 'athena',
    threadId: 'portal:task-1:c-1',
    sessionKey: 'relay:athena:portal:task-1',
    payloadRaw: '{"big":"payload"}',
    acceptedAt: now,
    expiresAt: now + 60_000,
    appConnId: 'n1.1',
    ...overrides,
  };
}

/**
 * EventStore idempotency (ports/event-store.ts): a key answers with its first event for as long
 * as the key is remembered, also after that event has ended and outlived the finished record's
 * retention; the payload is not what keeps it.
 */
export function eventStoreContract(name: string, create: () => Promise<EventStoreUnderTest>) {
  describe(`EventStore contract: idempotency and accept order (${name})`, () => {
    let store: EventStoreUnderTest;
    beforeEach(async () => {
      store = await create();
    });
    afterEach(async () => store.teardown());

    test('a key answers with its ended event, final included, after the finished retention; without the payload', async () => {
      const { events } = store;
      const first = await events.append(newEvent(), 'k-1', 60_000);
      const plain = await events.append(newEvent(), undefined, 60_000);
      expect(first.duplicate).toBe(false);
      const final = JSON.stringify({ type: 'reply', event_id: first.record.id, content: 'done' });
      expect(await events.finish(first.record.id, final, Date.now())).not.toBeNull();
      expect(await events.finish(plain.record.id, '{"type":"reply"}', Date.now())).not.toBeNull();

      await store.later(store.finishedRetentionMs * 3);
      // The retention has passed: an event sent without a key is forgotten.
      expect(await events.get(plain.record.id)).toBeNull();

      const found = await events.findByKey('portal', 'k-1', Date.now());
      expect(found).toMatchObject({ id: first.record.id, finished: true, final, acceptedAt: first.record.acceptedAt });
      expect(found?.payloadRaw).toBe('');
      const again = await events.append(newEvent(), 'k-1', 60_000);
      expect(again.duplicate).toBe(true);
      expect(again.record).toMatchObject({ id: first.record.id, finished: true, final, threadId: 'portal:task-1:c-1' });
      // It has ended once: finishing it again decides nothing.
      expect(await events.finish(first.record.id, '{"type":"other"}', Date.now())).toBeNull();
    });

    test('the one finish that ends an event gets its record: ended, with the final, without the payload', async () => {
      const { events } = store;
      const event = newEvent({ appConnId: 'n1.7' });
      await events.append(event, 'k-finish', 60_000);
      await events.setQueued(event.id, true);
      const final = JSON.stringify({ type: 'reply', event_id: event.id, content: 'x'.repeat(10_000) });
      const { payloadRaw: _, ...kept } = event;
      expect(await events.finish(event.id, final, Date.now())).toEqual({ ...kept, payloadRaw: '', queued: true, finished: true, final });
      expect(await events.get(event.id)).toEqual({ ...kept, payloadRaw: '', queued: true, finished: true, final });
    });

    test('an ended event is forgotten with its key, and the key then makes a new event', async () => {
      const { events } = store;
      const keyTtlMs = store.finishedRetentionMs * 20;
      const first = await events.append(newEvent(), 'k-2', keyTtlMs);
      await events.finish(first.record.id, '{"type":"reply"}', Date.now());
      await store.later(store.finishedRetentionMs * 3);
      expect((await events.findByKey('portal', 'k-2', Date.now()))?.id).toBe(first.record.id);

      await store.later(keyTtlMs);
      expect(await events.findByKey('portal', 'k-2', Date.now())).toBeNull();
      expect(await events.get(first.record.id)).toBeNull();
      const next = await events.append(newEvent(), 'k-2', keyTtlMs);
      expect(next.duplicate).toBe(false);
      expect(next.record.id).not.toBe(first.record.id);
    });

    test('order numbers taken by calls made one after another increase in call order, per agent', async () => {
      const { events } = store;
      // Two agents interleaved, each call's reply left to come back whenever it does.
      const calls = Array.from({ length: 40 }, (_, n) => ({ agent: n % 2 ? 'athena' : 'hermes', order: events.nextOrder(n % 2 ? 'athena' : 'hermes') }));
      for (const agent of ['athena', 'hermes']) {
        const orders = await Promise.all(calls.filter((c) => c.agent === agent).map((c) => c.order));
        expect(orders).toHaveLength(20);
        for (let i = 1; i < orders.length; i += 1) expect(orders[i]).toBeGreaterThan(orders[i - 1] as number);
      }
    });

    /** Resolves once `check` holds, polling; fails the test after 2 s. */
    async function eventually(check: () => Promise<boolean>) {
      for (let tries = 0; !(await check()); tries += 1) {
        if (tries > 400) throw new Error('never held');
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }

    test('with claimAfter, the record is written at once and the key claimed only once it resolves', async () => {
      const { events } = store;
      let go!: () => void;
      const after = new Promise<void>((resolve) => (go = resolve));
      const event = newEvent();
      const appending = events.append(event, 'k-after', 60_000, after);
      await eventually(async () => (await events.get(event.id)) !== null);
      expect(await events.findByKey('portal', 'k-after', Date.now())).toBeNull();
      go();
      const { record, duplicate } = await appending;
      expect(duplicate).toBe(false);
      expect(record.id).toBe(event.id);
      expect((await events.findByKey('portal', 'k-after', Date.now()))?.id).toBe(event.id);
    });

    test.each([
      ['with an idempotency key', 'k-refused'],
      ['without one', undefined],
    ])('when claimAfter rejects, the record is forgotten and append rejects with its reason (%s)', async (_, key) => {
      const { events } = store;
      let refuse!: (err: Error) => void;
      const after = new Promise<void>((_resolve, reject) => (refuse = reject));
      const event = newEvent();
      const appending = events.append(event, key, 60_000, after);
      await eventually(async () => (await events.get(event.id)) !== null);
      refuse(new Error('over the rate'));
      await expect(appending).rejects.toThrow('over the rate');
      expect(await events.get(event.id)).toBeNull();
      if (key !== undefined) {
        expect(await events.findByKey('portal', key, Date.now())).toBeNull();
        expect((await events.append(newEvent(), key, 60_000)).duplicate).toBe(false); // the key is free
      }
    });

    test('a waiting event keeps its payload; a finished one is read back without it', async () => {
      const { events } = store;
      const { record } = await events.append(newEvent(), 'k-3', 60_000);
      expect((await events.get(record.id))?.payloadRaw).toBe('{"big":"payload"}');
      await events.finish(record.id, '{"type":"reply"}', Date.now());
      expect(await events.get(record.id)).toMatchObject({ finished: true, payloadRaw: '' });
    });
  });
}
