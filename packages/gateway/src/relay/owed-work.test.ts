import { createOwedWork, type OwedWork, type StepFields } from './owed-work';

describe('owed work: steps the backend refused', () => {
  let ready: boolean;
  let failures: StepFields[];
  let tracked: Promise<unknown>[];
  let owed: OwedWork;

  beforeEach(() => {
    jest.useFakeTimers();
    ready = true;
    failures = [];
    tracked = [];
    owed = createOwedWork({
      ready: () => ready,
      intervalMs: 1_000,
      failed: (fields) => failures.push(fields),
      track: (work) => tracked.push(work),
    });
  });
  afterEach(() => {
    owed.stop();
    jest.useRealTimers();
  });

  /** Fires the retry timer once and waits for the round it started. */
  const tick = async () => {
    jest.advanceTimersByTime(1_000);
    await Promise.all(tracked.splice(0));
  };

  /** A step that fails while `down` is true, and counts the times it took effect. */
  const step = (state: { down: boolean; done: number }) => async () => {
    if (state.down) throw new Error('backend down');
    state.done += 1;
  };

  test('a step that succeeds runs once and is not kept', async () => {
    const s = { down: false, done: 0 };
    await owed.run({ step: 'detach', conn: 'c1' }, step(s));
    await tick();
    expect(s.done).toBe(1);
    expect(owed.owed).toBe(0);
    expect(failures).toEqual([]);
  });

  test('a failed step is kept, never rejects, and runs again once the backend is ready', async () => {
    const s = { down: true, done: 0 };
    ready = false;
    await expect(owed.run({ step: 'detach', conn: 'c1' }, step(s))).resolves.toBeUndefined();
    expect(failures).toEqual([{ step: 'detach', conn: 'c1' }]);
    expect(owed.owed).toBe(1);

    await tick(); // not ready: nothing is tried
    expect(failures).toHaveLength(1);

    s.down = false;
    ready = true;
    await tick();
    expect(s.done).toBe(1);
    expect(owed.owed).toBe(0);
    await tick();
    expect(s.done).toBe(1); // done is done
  });

  test('a step that fails again stays kept; the others of the round still run', async () => {
    const stubborn = { down: true, done: 0 };
    const fine = { down: true, done: 0 };
    await owed.run({ step: 'presence', conn: 'c1' }, step(stubborn));
    await owed.run({ step: 'detach', conn: 'c1' }, step(fine));
    fine.down = false;
    await tick();
    expect(fine.done).toBe(1);
    expect(owed.owed).toBe(1);
    expect(failures.map((f) => f.step)).toEqual(['presence', 'detach', 'presence']);

    stubborn.down = false;
    await tick();
    expect(stubborn.done).toBe(1);
    expect(owed.owed).toBe(0);
  });
});
