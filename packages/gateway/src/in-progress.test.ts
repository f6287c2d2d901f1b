import { createInProgress } from './in-progress';

describe('createInProgress', () => {
  test('settled waits for work added while it waits, and for work that fails', async () => {
    const work = createInProgress();
    const done: string[] = [];
    let finishLate = () => {};
    work.add(
      new Promise<void>((resolve) => setTimeout(resolve, 10)).then(() => {
        done.push('first');
        work.add(new Promise<void>((resolve) => (finishLate = resolve)).then(() => void done.push('late')));
      }),
    );
    const failed = work.add(Promise.reject(new Error('no')));
    failed.catch(() => {});
    const settled = work.settled().then(() => [...done]);
    await new Promise((resolve) => setTimeout(resolve, 30));
    finishLate();
    expect(await settled).toEqual(['first', 'late']);
  });

  test('settled resolves at once when nothing is under way', async () => {
    await expect(createInProgress().settled()).resolves.toBeUndefined();
  });
});
