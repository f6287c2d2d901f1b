import { createDeliveryOrder } from './delivery-order';
import { fakeConnection, memoryBackend, relayOn, until, wait } from '../testing/in-process';

describe('delivery order', () => {
  const setup = (waitMs = 1_000) => {
    const ran: string[] = [];
    const outcomes: string[] = [];
    const failures: unknown[] = [];
    const order = createDeliveryOrder({ counted: (o) => outcomes.push(o), failed: (err) => failures.push(err), waitMs });
    const run = (conn: string, seq: number, name = `${conn}#${seq}`) => order.inOrder(conn, seq, () => ran.push(name));
    return { order, ran, outcomes, failures, run };
  };

  test("each connection's assignments run in seq order; one that comes early waits for those before it", () => {
    const { ran, outcomes, run, order } = setup();
    run('c1', 1);
    run('c1', 3);
    run('c2', 2);
    run('c1', 4);
    expect(ran).toEqual(['c1#1']);
    run('c2', 1);
    run('c1', 2);
    expect(ran).toEqual(['c1#1', 'c2#1', 'c2#2', 'c1#2', 'c1#3', 'c1#4']);
    expect(outcomes).toEqual(['filled', 'filled', 'filled']);
    order.forget('c1');
    order.forget('c2');
  });

  test('a repeat of an earlier assignment, and one from a node that does not number them, run at once', () => {
    const { ran, run, order } = setup();
    run('c1', 1);
    run('c1', 3);
    run('c1', 1, 'repeat');
    run('c1', 0, 'unnumbered');
    expect(ran).toEqual(['c1#1', 'repeat', 'unnumbered']);
    order.forget('c1');
  });

  test('an earlier assignment that never comes is given up on after the wait; it runs when it comes after all', async () => {
    const { ran, outcomes, run, order } = setup(40);
    run('c1', 2);
    run('c1', 5);
    await until(() => ran.length === 1);
    expect(ran).toEqual(['c1#2']);
    expect(outcomes).toEqual(['gave_up']);
    // 3 and 4 are still missing: 5 waits its own turn, from the give-up on
    await until(() => ran.length === 2);
    expect(ran).toEqual(['c1#2', 'c1#5']);
    expect(outcomes).toEqual(['gave_up', 'gave_up']);
    run('c1', 1);
    run('c1', 6);
    expect(ran).toEqual(['c1#2', 'c1#5', 'c1#1', 'c1#6']);
    order.forget('c1');
  });

  test('a write that throws does not keep the ones after it from running', () => {
    const { ran, run, order } = setup();
    run('c1', 2);
    expect(() =>
      order.inOrder('c1', 1, () => {
        throw new Error('socket gone wrong');
      }),
    ).toThrow('socket gone wrong');
    expect(ran).toEqual(['c1#2']);
    run('c1', 3);
    expect(ran).toEqual(['c1#2', 'c1#3']);
    order.forget('c1');
  });

  test('a write that throws when a wait ends is reported, not thrown out of the timer', async () => {
    const { ran, run, order, failures } = setup(20);
    order.inOrder('c1', 2, () => {
      throw new Error('socket gone wrong');
    });
    run('c1', 3);
    await until(() => ran.length === 1);
    expect(ran).toEqual(['c1#3']);
    expect(failures).toEqual([new Error('socket gone wrong')]);
    order.forget('c1');
  });

  test('a connection forgotten drops what waits for it', async () => {
    const { ran, run, order } = setup(20);
    run('c1', 2);
    order.forget('c1');
    await wait(60);
    expect(ran).toEqual([]);
    // a connection id is never reused; were it, it would count from 1 again
    run('c1', 1);
    expect(ran).toEqual(['c1#1']);
    order.forget('c1');
  });
});

// A session's events must reach its agent in accept order, even when two nodes send them: the
// node that saw the holding connection close sends the events it handed back (reading each
// first), while the accepting node sends the session's next event as it is recorded. The read
// is made slow here, so the later event's sending comes first.
test("a closing connection's handed-back event reaches the new holder before the session's next one", async () => {
  const backend = memoryBackend();
  const { relay, metrics } = relayOn(backend);
  const eventFrame = (ref: string) => JSON.stringify({ type: 'event', agent_id: 'athena', thread_id: 'portal:order:a', payload: {}, ref });
  try {
    const w1 = fakeConnection('n1.1', 'agent', 'athena');
    const app = fakeConnection('n1.2', 'app', 'portal');
    relay.opened(w1);
    relay.opened(app);
    await wait(50);
    relay.received(app, eventFrame('first'));
    await until(() => w1.frames.some((f) => f.type === 'event'));
    const first = w1.frames.find((f) => f.type === 'event')?.event_id as string;

    const w2 = fakeConnection('n1.3', 'agent', 'athena');
    relay.opened(w2);
    await wait(50);

    const get = backend.events.get.bind(backend.events);
    backend.events.get = async (id) => {
      if (id === first) await wait(50);
      return get(id);
    };
    const detach = backend.queue.detach.bind(backend.queue);
    backend.queue.detach = async (agentId, connId) => {
      const result = await detach(agentId, connId);
      relay.received(app, eventFrame('second'));
      return result;
    };
    relay.closed(w1, []);

    await until(() => w2.frames.filter((f) => f.type === 'event').length === 2);
    const second = app.frames.find((f) => f.type === 'accepted' && f.ref === 'second')?.event_id;
    expect(w2.frames.filter((f) => f.type === 'event').map((f) => [f.event_id, f.attempt])).toEqual([
      [first, 2],
      [second, 1],
    ]);
    expect((await metrics.deliveriesHeld.get()).values).toEqual([expect.objectContaining({ labels: { outcome: 'filled' }, value: 1 })]);
  } finally {
    await relay.drain();
    await backend.close();
  }
});
