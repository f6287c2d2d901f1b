/**
 * Work put off until the current turn of the event loop is over, all of it in one setImmediate.
 * The batchers that wait for the turn's end (the bus's publishes, the token streams' records,
 * the timeline's steps) then issue their Redis commands in the same tick, so they leave in one
 * write (backends/redis/connect.ts batchWrites): with one setImmediate each, each ran in a tick
 * of its own, and made a write of its own, two per token relayed.
 */
let waiting: (() => void)[] = [];

export function atTurnEnd(work: () => void): void {
  if (waiting.push(work) === 1) setImmediate(runWaiting);
}

function runWaiting(): void {
  const works = waiting;
  waiting = [];
  for (const work of works) work();
}
