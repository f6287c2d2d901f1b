import { atTurnEnd } from './turn-end';

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
