import type { Backend } from '../ports';
import { fakeConnection, memoryBackend, relayOn, until, wait } from '../testing/in-process';

// ARCHITECTURE invariant 1 / guarantees.md promise 1: `accepted` only once the event is written:
// its record and stream entry (events.append) and its queue entry (queue.enqueue). Its expiry
// task is written first too: an event accepted without one would wait for ever for an agent
// that never connects, and never get its EVENT_EXPIRED final (promise 2). A write that fails
// answers RELAY_UNAVAILABLE, echoing the frame's ref, and never `accepted`.

/** A write the test lets through, or fails, when it chooses. */
interface Gate {
  reached: boolean;
  release(): void;
  fail(err: Error): void;
}

/** Makes one backend write wait at a gate before it runs (or fails instead of running). */
const gates: Record<string, (backend: Backend, gate: Gate & { wait: Promise<void> }) => void> = {
  'events.append': (backend, gate) => {
    const append = backend.events.append.bind(backend.events);
    backend.events.append = async (...args) => {
      gate.reached = true;
      await gate.wait;
      return append(...args);
    };
  },
  'queue.enqueue': (backend, gate) => {
    const enqueue = backend.queue.enqueue.bind(backend.queue);
    backend.queue.enqueue = async (entry) => {
      gate.reached = true;
      await gate.wait;
      return enqueue(entry);
    };
  },
  'scheduler.at(expire)': (backend, gate) => {
    const at = backend.scheduler.at.bind(backend.scheduler);
    backend.scheduler.at = async (time, task) => {
      if (task.kind === 'expire') {
        gate.reached = true;
        await gate.wait;
      }
      return at(time, task);
    };
  },
};

async function setUp(step: string) {
  const backend = memoryBackend();
  let release!: () => void;
  let fail!: (err: Error) => void;
  const waitAtGate = new Promise<void>((resolve, reject) => {
    release = resolve;
    fail = reject;
  });
  waitAtGate.catch(() => {}); // awaited by the gated write; the failure is the test's to observe there
  const gate = { reached: false, wait: waitAtGate, release: () => release(), fail: (err: Error) => fail(err) };
  gates[step]?.(backend, gate);
  const { relay } = relayOn(backend);
  const app = fakeConnection('n1.1', 'app', 'portal');
  relay.opened(app);
  await wait(50); // attached and present
  const stop = async () => {
    gate.release();
    await relay.drain();
    await backend.close();
  };
  return { backend, relay, app, gate, stop };
}

const event = JSON.stringify({ type: 'event', agent_id: 'athena', thread_id: 'portal:t1', payload: { n: 1 }, ref: 'e1' });

describe.each(Object.keys(gates))('accepted waits for %s', (step) => {
  test('no `accepted` while the write is pending; `accepted` once it is done', async () => {
    const { app, relay, gate, stop } = await setUp(step);
    try {
      relay.received(app, event);
      await until(() => gate.reached);
      await wait(300);
      expect(app.frames).toEqual([]);

      gate.release();
      await until(() => app.frames.length > 0);
      expect(app.frames).toEqual([expect.objectContaining({ type: 'accepted', ref: 'e1', agent_id: 'athena' })]);
    } finally {
      await stop();
    }
  });

  test('a write that fails answers RELAY_UNAVAILABLE with the ref, and never `accepted`', async () => {
    const { app, relay, gate, stop } = await setUp(step);
    try {
      relay.received(app, event);
      await until(() => gate.reached);
      gate.fail(new Error('store unavailable'));
      await until(() => app.frames.length > 0);
      await wait(300);
      expect(app.frames).toEqual([expect.objectContaining({ type: 'error', code: 'RELAY_UNAVAILABLE', ref: 'e1' })]);
    } finally {
      await stop();
    }
  });
});
