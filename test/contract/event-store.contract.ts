import { RateRefused, type EventStore, type NewEvent } from '../../packages/gateway/src/ports';

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

    test("a finish owes its final until it is handed on; a later finish, which decides nothing, owes none", async () => {
      const { events } = store;
      const { record } = await events.append(newEvent(), undefined, 60_000);
      const owedBefore = async (at: number) => (await events.overdueFinals(at, at, 1_000)).includes(record.id);
      expect(await events.finish(record.id, '{"type":"reply"}', 1_000)).not.toBeNull();
      expect(await owedBefore(5_000)).toBe(true); // and now taken, as if noted at 5,000
      await events.finalHandedOn(record.id);
      expect(await events.finish(record.id, '{"type":"other"}', 6_000)).toBeNull();
      expect(await owedBefore(Date.now() + 60_000)).toBe(false);
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

    /** An admission whose rate limits are out of the way unless given; the store never asked to queue the event. */
    const admitted = (rate = { softPerMin: 1_000, hardPerMin: 1_000 }) => ({ rate, queueAfter: 'evt_not-queued' });

    test('with an admission, append takes the order number as it is called, and claims the key', async () => {
      const { events } = store;
      // Two agents interleaved, with and without keys, each reply left to come back whenever it does.
      const calls = Array.from({ length: 40 }, (_, n) => {
        const agentId = n % 2 ? 'athena' : 'hermes';
        const key = n % 4 < 2 ? `k-order-${process.pid}-${n}` : undefined;
        return { agentId, order: events.append(newEvent({ agentId }), key, 60_000, admitted()).then((r) => r.order) };
      });
      for (const agent of ['athena', 'hermes']) {
        const orders = await Promise.all(calls.filter((c) => c.agentId === agent).map((c) => c.order));
        expect(orders).toHaveLength(20);
        for (let i = 1; i < orders.length; i += 1) expect(orders[i]).toBeGreaterThan(orders[i - 1] as number);
      }
      const event = newEvent();
      const { record, duplicate, notBefore, queued } = await events.append(event, 'k-after', 60_000, admitted());
      expect({ duplicate, notBefore, queued }).toEqual({ duplicate: false, notBefore: 0, queued: undefined });
      expect(record.id).toBe(event.id);
      expect((await events.findByKey('portal', 'k-after', Date.now()))?.id).toBe(event.id);
      // without an admission no order number is taken
      expect((await events.append(newEvent(), undefined, 60_000)).order).toBeUndefined();
    });

    test.each([
      ['with an idempotency key', 'k-over'],
      ['without one', undefined],
    ])('an event over its app\'s hard rate limit is refused: no record, no key, and no place in the budget (%s)', async (_, key) => {
      const { events } = store;
      const appId = `rate-${process.pid}-${++counter}`; // a budget of its own
      const rate = { softPerMin: 5, hardPerMin: 2 };
      const at = Date.now();
      const inWindow = (overrides: Partial<NewEvent> = {}) => newEvent({ appId, acceptedAt: at, ...overrides });
      for (let i = 0; i < 2; i += 1) expect((await events.append(inWindow(), undefined, 60_000, admitted(rate))).duplicate).toBe(false);
      const over = inWindow();
      await expect(events.append(over, key, 60_000, admitted(rate))).rejects.toBeInstanceOf(RateRefused);
      expect(await events.get(over.id)).toBeNull();
      if (key !== undefined) expect(await events.findByKey(appId, key, Date.now())).toBeNull();
      // refused events are not counted: a higher limit lets exactly one more in
      const higher = { softPerMin: 5, hardPerMin: 3 };
      expect((await events.append(inWindow(), key, 60_000, admitted(higher))).duplicate).toBe(false);
      await expect(events.append(inWindow(), undefined, 60_000, admitted(higher))).rejects.toBeInstanceOf(RateRefused);
    });

    test('past the soft rate limit a new event is held to a later window; a duplicate answers with the first event, not held', async () => {
      const { events } = store;
      const appId = `rate-${process.pid}-${++counter}`;
      const rate = { softPerMin: 1, hardPerMin: 3 };
      const at = Date.now();
      const first = await events.append(newEvent({ appId, acceptedAt: at }), 'k-soft', 60_000, admitted(rate));
      expect(first.notBefore).toBe(0);
      const second = await events.append(newEvent({ appId, acceptedAt: at }), undefined, 60_000, admitted(rate));
      expect(second.notBefore).toBeGreaterThan(at); // the start of a later window
      expect(second.notBefore % 1_000).toBe(0);
      const resent = await events.append(newEvent({ appId, acceptedAt: at }), 'k-soft', 60_000, admitted(rate));
      expect(resent).toMatchObject({ duplicate: true, notBefore: 0, record: { id: first.record.id } });
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
