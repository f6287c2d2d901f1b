import type { Backend, TimelineEntry } from '../ports';
import type { RelayContext } from './context';
import { contextOn, memoryBackendPerTest } from '../testing/in-process';

// Timeline steps noted in one turn are written together, one write per event (issue 13), and
// in the background: a step that cannot be written is counted once per event, never thrown.

const newBackend = memoryBackendPerTest();
const made: RelayContext[] = [];
const newContext = (backend: Backend) => {
  const one = contextOn(backend);
  made.push(one.ctx);
  return one;
};
afterEach(() => {
  for (const ctx of made.splice(0)) ctx.owed.stop(); // the one timer a context starts
});
const step = (at: number): TimelineEntry => ({ at, kind: 'first_token', node: 'n1', attempt: 1 });

test("one turn's steps are written in one write per event, in the order noted; `settled` waits for them", async () => {
  const backend = newBackend();
  const { ctx } = newContext(backend);
  const writes: [string, number[]][] = [];
  const note = backend.events.note.bind(backend.events);
  backend.events.note = (eventId, steps, retentionMs) => {
    writes.push([eventId, steps.map((s) => s.at)]);
    return note(eventId, steps, retentionMs);
  };
  ctx.note('evt_a', step(1));
  ctx.note('evt_b', step(2));
  ctx.note('evt_a', step(3));
  expect(writes).toEqual([]); // not before the turn's end
  await ctx.settled();
  expect(writes).toEqual([
    ['evt_a', [1, 3]],
    ['evt_b', [2]],
  ]);
  expect((await backend.events.timeline('evt_a')).map((s) => s.at)).toEqual([1, 3]);

  ctx.note('evt_a', step(4)); // a later turn: a write of its own
  await ctx.settled();
  expect(writes).toHaveLength(3);
});

test('a write that fails is counted once per event and thrown at nobody', async () => {
  const backend = newBackend();
  const { ctx, metrics } = newContext(backend);
  backend.events.note = async () => {
    throw new Error('store down');
  };
  const failed = async () => (await metrics.backgroundErrors.get()).values.find((v) => v.labels.task === 'timeline')?.value ?? 0;
  ctx.note('evt_a', step(1));
  ctx.note('evt_a', step(2));
  ctx.note('evt_b', step(3));
  await ctx.settled();
  expect(await failed()).toBe(2);
});
