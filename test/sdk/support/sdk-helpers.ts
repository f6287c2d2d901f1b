import type { ConnectionState, StateChange } from '@relay/sdk';

/** An app or agent client, as far as its connection state goes. */
export interface Stateful {
  on(event: 'state', listener: (change: StateChange) => void): () => void;
}

/** Short backoff for tests: reconnects within ~100 ms instead of 2 s. */
export const FAST = { backoff: { initialMs: 50, maxMs: 400, jitter: 0 } } as const;

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Resolves when `check()` is truthy (polled), with its value; fails after `timeoutMs`. */
export async function until<T>(check: () => T | undefined | false, timeoutMs = 5_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** Every state change of a client, with when it happened. */
export function recordStates(client: Stateful): (StateChange & { at: number })[] {
  const states: (StateChange & { at: number })[] = [];
  client.on('state', (change) => states.push({ ...change, at: Date.now() }));
  return states;
}

/** Resolves the next time the client enters `state`. */
export function nextState(client: Stateful, state: ConnectionState, timeoutMs = 5_000): Promise<StateChange> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`client did not reach ${state} within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = client.on('state', (change) => {
      if (change.state !== state) return;
      clearTimeout(timer);
      off();
      resolve(change);
    });
  });
}

/** A promise and its resolve function, to hold a handler until the test lets it go. */
export function gate<T = void>(): { promise: Promise<T>; open: (value: T) => void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}
