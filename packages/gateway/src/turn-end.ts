/**
 * Work put off until the current turn of the event loop is over, all of it in one setImmediate:
 * after the poll phase has run every I/O callback that was ready, so work from all of them goes
 * together. The batchers that wait for the turn's end (the bus's publishes, the token streams'
 * records, the timeline's steps, `gatherInTurn`'s) issue their Redis commands there, and after
 * them the node's Redis connection lets its corked writes go (`afterTurnEnd`,
 * backends/redis/connect.ts batchWrites): what one turn of the loop asked of Redis leaves in one
 * write. Each socket's frames leave there too, in one write per socket
 * (transport/socket-connection.ts). Work put off while this runs runs in the same tick, after
 * what came before it.
 */
let waiting: (() => void)[] = [];
let last: (() => void)[] = [];
let running = false;

const schedule = () => {
  if (!running && waiting.length + last.length === 1) setImmediate(runWaiting);
};

export function atTurnEnd(work: () => void): void {
  waiting.push(work);
  schedule();
}

/** Runs `work` at the turn's end once every `atTurnEnd` work has run, and what that work put off. */
export function afterTurnEnd(work: () => void): void {
  last.push(work);
  schedule();
}

function runWaiting(): void {
  running = true;
  let failure: { err: unknown } | undefined;
  while (waiting.length + last.length > 0) {
    const works = waiting.length > 0 ? waiting : last;
    if (works === waiting) waiting = [];
    else last = [];
    // Every work runs, a connection's uncork among them, whatever another one throws.
    const failed = runEach(works);
    failure ??= failed;
  }
  running = false;
  if (failure) throw failure.err;
}

/** Runs every one of `works` in order, whatever any of them throws; returns the first failure. */
export function runEach(works: (() => void)[]): { err: unknown } | undefined {
  let failure: { err: unknown } | undefined;
  for (const work of works) {
    try {
      work();
    } catch (err) {
      failure ??= { err };
    }
  }
  return failure;
}

/**
 * Gathers the items handed to it in one turn and passes them to `flush` together at the turn's
 * end: one command for what would have been one per item. Each caller's promise settles with
 * the flush that took its item.
 */
export function gatherInTurn<T>(flush: (items: T[]) => Promise<unknown>): (item: T) => Promise<void> {
  let batch: { items: T[]; flushed: Promise<void> } | undefined;
  return (item) => {
    if (!batch) {
      const items: T[] = [];
      const flushed = new Promise<void>((resolve, reject) =>
        atTurnEnd(() => {
          batch = undefined;
          // Called here, not in a promise's callback: its command must leave with the turn's.
          let flushing: Promise<unknown>;
          try {
            flushing = flush(items);
          } catch (err) {
            flushing = Promise.reject(err);
          }
          flushing.then(() => resolve(), reject);
        }),
      );
      batch = { items, flushed };
    }
    batch.items.push(item);
    return batch.flushed;
  };
}
