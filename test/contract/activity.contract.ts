import type { ActivityEventFields, ActivityStore, ActivityStoreOptions } from '../../packages/gateway/src/ports';

export interface ActivityStoreUnderTest {
  store: ActivityStore;
  teardown(): Promise<void>;
}

const MINUTE = 60_000;
let counter = 0;
const row = (acceptedAt: number, extra: Partial<ActivityEventFields> = {}): ActivityEventFields => ({
  appId: 'portal',
  agentId: 'athena',
  threadId: `portal:t-${++counter}`,
  acceptedAt,
  ...extra,
});

/**
 * The ActivityStore contract (ports/activity.ts), runnable against any backend: counts added by
 * several writers sum per minute, an event's row merges the fields each writer sent, and both
 * are bounded by the retention and the row cap.
 */
export function activityStoreContract(name: string, create: (options: ActivityStoreOptions) => Promise<ActivityStoreUnderTest>) {
  describe(`ActivityStore contract (${name})`, () => {
    let under: ActivityStoreUnderTest | undefined;
    const make = async (options: ActivityStoreOptions = { retentionMs: 3_600_000, maxEvents: 100 }) => {
      under = await create(options);
      return under.store;
    };
    afterEach(async () => {
      await under?.teardown();
      under = undefined;
    });

    test('counts from two writers add up per minute; minutes outside the range or without counts are left out', async () => {
      const store = await make();
      const now = Date.now() - (Date.now() % MINUTE);
      await store.add(now, new Map([['accepted|athena|portal', 2], ['tokens|athena', 5]]));
      await store.add(now, new Map([['accepted|athena|portal', 1], ['ended|athena|AGENT_TIMEOUT', 1]]));
      await store.add(now - MINUTE, new Map([['accepted|athena|portal', 7]]));
      await store.add(now - 10 * MINUTE, new Map([['accepted|athena|portal', 9]]));

      expect(await store.minutes(now - 5 * MINUTE, now)).toEqual([
        { minute: now - MINUTE, counts: { 'accepted|athena|portal': 7 } },
        { minute: now, counts: { 'accepted|athena|portal': 3, 'tokens|athena': 5, 'ended|athena|AGENT_TIMEOUT': 1 } },
      ]);
      expect(await store.minutes(now + MINUTE, now + 5 * MINUTE)).toEqual([]);
    });

    test("an event's row merges what each writer saw, whatever the order; rows come newest accept first", async () => {
      const store = await make();
      const t = Date.now();
      const first = row(t - 2_000);
      const second = row(t - 1_000, { appId: 'flow' });
      // The end arrives before the delivery (another node flushed first): nothing is lost.
      await store.putEvents([{ eventId: 'evt_a', fields: first }, { eventId: 'evt_b', fields: second }], t);
      await store.putEvents([{ eventId: 'evt_a', fields: { ...first, outcome: 'reply_stop', finalMs: 900 } }], t);
      await store.putEvents([{ eventId: 'evt_a', fields: { ...first, attempt: 1, deliveredMs: 12, firstTokenMs: 40 } }], t);

      const rows = await store.recentEvents(10);
      expect(rows.map((r) => r.eventId)).toEqual(['evt_b', 'evt_a']);
      expect(rows[1]).toEqual({ eventId: 'evt_a', ...first, attempt: 1, deliveredMs: 12, firstTokenMs: 40, outcome: 'reply_stop', finalMs: 900 });
      expect(rows[0]).toEqual({ eventId: 'evt_b', ...second });
      expect((await store.recentEvents(1)).map((r) => r.eventId)).toEqual(['evt_b']);
    });

    test('rows accepted in the same millisecond come, and are kept, by event id descending', async () => {
      const store = await make({ retentionMs: 3_600_000, maxEvents: 2 });
      const t = Date.now();
      const same = row(t);
      await store.putEvents([{ eventId: 'evt_m', fields: same }], t);
      await store.putEvents(['evt_z', 'evt_a'].map((eventId) => ({ eventId, fields: same })), t);
      // The bound keeps the first two in that order, too.
      expect((await store.recentEvents(10)).map((r) => r.eventId)).toEqual(['evt_z', 'evt_m']);
    });

    test('rows are bounded: only the newest maxEvents are kept, and none accepted before the retention', async () => {
      const store = await make({ retentionMs: 60_000, maxEvents: 3 });
      const t = Date.now();
      const updates = [1, 2, 3, 4, 5].map((i) => ({ eventId: `evt_${i}`, fields: row(t - 10_000 + i) }));
      await store.putEvents(updates, t);
      expect((await store.recentEvents(100)).map((r) => r.eventId)).toEqual(['evt_5', 'evt_4', 'evt_3']);

      await store.putEvents([{ eventId: 'evt_old', fields: row(t - 120_000) }], t);
      expect((await store.recentEvents(100)).map((r) => r.eventId)).toEqual(['evt_5', 'evt_4', 'evt_3']);
    });

    test('minutes older than the retention are forgotten', async () => {
      const store = await make({ retentionMs: 1_000, maxEvents: 10 });
      const now = Date.now() - (Date.now() % MINUTE);
      await store.add(now, new Map([['tokens|athena', 1]]));
      await store.add(now - 5 * MINUTE, new Map([['tokens|athena', 1]]));
      // Kept for the retention after the minute ends, counted from the minute, not the write.
      expect((await store.minutes(now - 10 * MINUTE, now)).map((m) => m.minute)).toEqual([now]);
    });
  });
}
