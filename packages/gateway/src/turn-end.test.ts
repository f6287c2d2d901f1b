import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterTurnEnd, atTurnEnd, gatherInTurn } from './turn-end';

test('work put off to the turn end runs in order, all in one tick, after the current turn', async () => {
  const ran: string[] = [];
  atTurnEnd(() => {
    ran.push('first');
    // a nextTick queued here runs only once every waiting work has run: one tick for all
    process.nextTick(() => ran.push('tick after first'));
  });
  atTurnEnd(() => ran.push('second'));
  ran.push('this turn');
  await new Promise((resolve) => setImmediate(resolve));
  expect(ran).toEqual(['this turn', 'first', 'second', 'tick after first']);
});

test('work put off while the turn-end work runs runs in the same tick, after it', async () => {
  const ran: string[] = [];
  atTurnEnd(() => {
    ran.push('first');
    atTurnEnd(() => ran.push('added by first'));
    process.nextTick(() => ran.push('tick after first'));
  });
  atTurnEnd(() => ran.push('second'));
  await new Promise((resolve) => setImmediate(resolve));
  expect(ran).toEqual(['first', 'second', 'added by first', 'tick after first']);
});

test('a work that throws does not keep the others from running; its error is thrown after them', () => {
  // In a process of its own: jest takes an uncaught exception for the test's own failure.
  const script = `
    const { atTurnEnd } = require(${JSON.stringify(path.join(__dirname, '../dist/turn-end.js'))});
    process.on('uncaughtException', (err) => console.log('thrown: ' + err.message));
    atTurnEnd(() => { throw new Error('boom'); });
    atTurnEnd(() => console.log('ran after the throw'));
  `;
  const out = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  expect(out.trim().split('\n')).toEqual(['ran after the throw', 'thrown: boom']);
});

test('work put off after the turn end runs once every turn-end work has, and what that work put off', async () => {
  const ran: string[] = [];
  afterTurnEnd(() => ran.push('after'));
  atTurnEnd(() => {
    ran.push('first');
    atTurnEnd(() => ran.push('added by first'));
  });
  await new Promise((resolve) => setImmediate(resolve));
  expect(ran).toEqual(['first', 'added by first', 'after']);
});

test("a turn's items are flushed together at its end, each caller settling with that flush", async () => {
  const flushes: string[][] = [];
  const gather = gatherInTurn<string>(async (items) => {
    flushes.push([...items]);
  });
  const first = [gather('a'), gather('b')];
  await Promise.resolve().then(() => first.push(gather('c'))); // a promise continuation of the same turn
  expect(flushes).toEqual([]);
  await Promise.all(first);
  expect(flushes).toEqual([['a', 'b', 'c']]);
  await gather('d'); // the next turn's
  expect(flushes).toEqual([['a', 'b', 'c'], ['d']]);
});

test("a failed flush fails every caller of its turn, and the next turn's items flush again", async () => {
  let fail = true;
  const flushes: number[][] = [];
  const gather = gatherInTurn<number>((items) => {
    flushes.push(items);
    if (fail) throw new Error('store down'); // thrown, not rejected: still settles the callers
    return Promise.resolve();
  });
  const results = await Promise.allSettled([gather(1), gather(2)]);
  expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  fail = false;
  await gather(3);
  expect(flushes).toEqual([[1, 2], [3]]);
});
