import { createMemoryActivityStore } from '../backends/memory/activity';
import type { ActivityStore, EventRecord } from '../ports';
import { bucketOf } from './counts';
import { createActivityRecorder } from './recorder';

const MINUTE = 60_000;
const T0 = Date.now() - (Date.now() % MINUTE) - 10 * MINUTE;

const event = (id: string, acceptedAt: number, agentId = 'athena'): EventRecord => ({
  id,
  appId: 'portal',
  agentId,
  threadId: `portal:${id}`,
  sessionKey: `relay:${agentId}:portal:${id}`,
  payloadRaw: '{"secret":1}',
  acceptedAt,
  expiresAt: acceptedAt + 60_000,
  appConnId: 'n1.1',
  queued: false,
  finished: false,
});

/** A store that counts the calls the recorder makes, over the memory store. */
function countingStore() {
  const inner = createMemoryActivityStore({ retentionMs: 24 * 3_600_000, maxEvents: 100 });
  const calls = { add: 0, putEvents: 0 };
  const store: ActivityStore = {
    add: async (minute, counts) => {
      calls.add += 1;
      return inner.add(minute, counts);
    },
    putEvents: async (updates, now) => {
      calls.putEvents += 1;
      return inner.putEvents(updates, now);
    },
    minutes: (from, to) => inner.minutes(from, to),
    recentEvents: (limit) => inner.recentEvents(limit),
  };
  return { store, calls };
}

test('hooks only count in memory; a flush writes one batch per minute touched, and rows merged per event', async () => {
  const { store, calls } = countingStore();
  let now = T0 + 1_000;
  const recorder = createActivityRecorder(store, { intervalMs: 3_600_000, now: () => now, onError: (err) => { throw err; } });
  const a = event('evt_a', T0 + 1_000);
  const b = event('evt_b', T0 + 2_000, 'klyve');
  recorder.accepted(a);
  recorder.accepted(b);
  now = T0 + 1_050;
  recorder.delivered(a, 1);
  now = T0 + 1_200;
  for (let seq = 0; seq < 3; seq++) recorder.token(a, seq);
  now = T0 + MINUTE + 500; // the reply lands in the next minute
  recorder.ended(a, 'reply_stop');
  recorder.ended(b, 'EVENT_EXPIRED');
  expect(calls).toEqual({ add: 0, putEvents: 0 });

  await recorder.flush();
  expect(calls).toEqual({ add: 2, putEvents: 1 });
  const minutes = await store.minutes(T0, T0 + MINUTE);
  expect(minutes).toEqual([
    {
      minute: T0,
      counts: {
        'accepted|athena|portal': 1,
        'accepted|klyve|portal': 1,
        'delivered|athena': 1,
        'tokens|athena': 3,
        [`ttft|athena|${bucketOf(200)}`]: 1,
      },
    },
    {
      minute: T0 + MINUTE,
      counts: { 'ended|athena|reply_stop': 1, [`reply|athena|${bucketOf(MINUTE - 500)}`]: 1, 'ended|klyve|EVENT_EXPIRED': 1 },
    },
  ]);
  const rows = await store.recentEvents(10);
  expect(rows).toEqual([
    { eventId: 'evt_b', appId: 'portal', agentId: 'klyve', threadId: 'portal:evt_b', acceptedAt: T0 + 2_000, outcome: 'EVENT_EXPIRED', finalMs: MINUTE - 1_500 },
    {
      eventId: 'evt_a',
      appId: 'portal',
      agentId: 'athena',
      threadId: 'portal:evt_a',
      acceptedAt: T0 + 1_000,
      attempt: 1,
      deliveredMs: 50,
      firstTokenMs: 200,
      outcome: 'reply_stop',
      finalMs: MINUTE - 500,
    },
  ]);
  expect(JSON.stringify(rows)).not.toContain('secret');

  // Nothing new: a flush writes nothing.
  await recorder.flush();
  expect(calls).toEqual({ add: 2, putEvents: 1 });
  await recorder.stop();
});

test('a batch the store refuses is reported, not thrown, and the next batch still goes', async () => {
  const { store } = countingStore();
  let refuse = true;
  const errors: unknown[] = [];
  const flaky: ActivityStore = {
    ...store,
    putEvents: async (updates, now) => {
      if (refuse) throw new Error('redis down');
      return store.putEvents(updates, now);
    },
  };
  const recorder = createActivityRecorder(flaky, { intervalMs: 3_600_000, onError: (err) => errors.push(err) });
  recorder.accepted(event('evt_1', Date.now()));
  await recorder.flush();
  expect(errors).toHaveLength(1);
  refuse = false;
  recorder.accepted(event('evt_2', Date.now()));
  await recorder.stop();
  // The refused batch is gone, rows and counts alike; the next one is whole.
  expect((await store.recentEvents(10)).map((r) => r.eventId)).toEqual(['evt_2']);
  const counted = (await store.minutes(0, Date.now())).flatMap((m) => Object.values(m.counts));
  expect(counted).toEqual([1]);
});
