import { createFrameQueue } from './frame-queue';
import { RelayError } from './relay-error';
import { ErrorCode } from '@relay/protocol';
import { deliveredEventId, fakeConnection, gate, memoryBackend, openAgentAndApp, relayOn, until } from '../testing/in-process';

// Laned work with nothing before it runs inside `run`, so a token costs no promise; everything
// else keeps its place: behind its lane's earlier work and behind the socket's unlaned work.

function queueOn() {
  const backend = memoryBackend();
  const { ctx, relay } = relayOn(backend);
  return {
    queue: createFrameQueue(ctx),
    ctx,
    close: async () => {
      await relay.drain();
      await backend.close();
    },
  };
}

test('laned work with nothing before it runs inside run; a promise it returns holds its lane, not the others', async () => {
  const { queue, ctx, close } = queueOn();
  const conn = fakeConnection('n1.1', 'agent', 'athena');
  const order: string[] = [];
  const reply = gate();
  try {
    queue.run(conn, 10, () => void order.push('x token'), {}, 'x');
    expect(order).toEqual(['x token']);

    queue.run(conn, 10, async () => {
      order.push('x reply starts');
      await reply.opened;
      order.push('x reply ends');
    }, {}, 'x');
    expect(order).toEqual(['x token', 'x reply starts']);

    queue.run(conn, 10, () => void order.push('x after the reply'), {}, 'x');
    queue.run(conn, 10, () => void order.push('y token'), {}, 'y');
    expect(order).toEqual(['x token', 'x reply starts', 'y token']);

    reply.open();
    await ctx.settled();
    expect(order).toEqual(['x token', 'x reply starts', 'y token', 'x reply ends', 'x after the reply']);

    // the lane is idle again: at once
    queue.run(conn, 10, () => void order.push('x again'), {}, 'x');
    expect(order.at(-1)).toBe('x again');
  } finally {
    reply.open();
    await close();
  }
});

test('while unlaned work waits, laned work waits behind it', async () => {
  const { queue, ctx, close } = queueOn();
  const conn = fakeConnection('n1.2', 'app', 'portal');
  const order: string[] = [];
  const shared = gate();
  try {
    queue.run(conn, 10, async () => {
      await shared.opened;
      order.push('unlaned');
    });
    queue.run(conn, 10, () => void order.push('laned'), {}, 'x');
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).toEqual([]);

    shared.open();
    await ctx.settled();
    expect(order).toEqual(['unlaned', 'laned']);
    queue.run(conn, 10, () => void order.push('laned, once nothing waits'), {}, 'x');
    expect(order.at(-1)).toBe('laned, once nothing waits');
  } finally {
    shared.open();
    await close();
  }
});

test('work that throws at once is answered with an error frame, as work that fails later is', async () => {
  const { queue, ctx, close } = queueOn();
  const conn = fakeConnection('n1.1', 'agent', 'athena');
  try {
    queue.run(conn, 10, () => {
      throw new RelayError(ErrorCode.UNKNOWN_EVENT, 'no such event');
    }, { ref: 'r1', event_id: 'evt_1' }, 'evt_1');
    expect(conn.frames).toMatchObject([{ type: 'error', code: ErrorCode.UNKNOWN_EVENT, message: 'no such event', ref: 'r1', event_id: 'evt_1' }]);

    queue.run(conn, 10, async () => {
      await Promise.resolve();
      throw new RelayError(ErrorCode.UNKNOWN_EVENT, 'no such event');
    }, { ref: 'r2', event_id: 'evt_1' }, 'evt_1');
    await ctx.settled();
    expect(conn.frames[1]).toMatchObject({ type: 'error', code: ErrorCode.UNKNOWN_EVENT, message: 'no such event', ref: 'r2', event_id: 'evt_1' });
    // and the lane is free again
    let ran = false;
    queue.run(conn, 10, () => void (ran = true), {}, 'evt_1');
    expect(ran).toBe(true);
  } finally {
    await close();
  }
});

test("an agent's token for an event it holds reaches the app's socket inside `received`", async () => {
  const backend = memoryBackend();
  const { relay } = relayOn(backend);
  try {
    const { agent, app } = await openAgentAndApp(relay);
    const eventId = await deliveredEventId(relay, app, agent);
    await until(() => app.frames.some((f) => f.type === 'accepted'));

    relay.received(agent, JSON.stringify({ type: 'token', event_id: eventId, token: 'now' }));
    expect(app.frames.filter((f) => f.type === 'token')).toMatchObject([{ event_id: eventId, token: 'now', seq: 0 }]);
  } finally {
    await relay.drain();
    await backend.close();
  }
});
