import { fakeConnection, memoryBackendPerTest, openAgentAndApp, relayOn, until, wait } from '../testing/in-process';
import { ErrorCode } from '@relay/protocol';
import type { Backend } from '../ports';
import { finishWithError } from './lifecycle';

// lifecycle.ts settle: a reply's finish comes before its removal from the queue, and where the
// store carries out steps in call order (memory, one Redis primary) the removal is sent without
// waiting for the finish's reply, one round trip fewer before the app's final.

const freshBackend = memoryBackendPerTest();

/** A memory backend; with `inCallOrder` false, like a Redis Cluster's: no `finishAndRemove`. */
function backendInCallOrder(inCallOrder: boolean): Backend {
  const { finishAndRemove, ...rest } = freshBackend();
  return inCallOrder ? { ...rest, finishAndRemove } : { ...rest, runsInCallOrder: false };
}

/** A memory backend (as backendInCallOrder) whose `finish` takes effect at once but answers only once `answer` is opened. */
function heldFinish(inCallOrder: boolean) {
  const backend = backendInCallOrder(inCallOrder);
  let open!: () => void;
  const answer = new Promise<void>((resolve) => (open = resolve));
  const calls: string[] = [];
  const finish = backend.events.finish.bind(backend.events);
  backend.events.finish = async (...args) => {
    calls.push('finish');
    const done = finish(...args);
    await answer;
    return done;
  };
  const remove = backend.queue.remove.bind(backend.queue);
  backend.queue.remove = async (...args) => {
    calls.push('remove');
    return remove(...args);
  };
  return { backend, calls, open };
}

/**
 * Numbers the turns calls are made in: calls made in one synchronous run get one number, as a
 * store sends what it is given in one run in one write (backends/redis/connect.ts batchWrites).
 */
function turnCounter(): () => number {
  let turn = 0;
  let counting = false;
  return () => {
    if (!counting) {
      counting = true;
      queueMicrotask(() => {
        counting = false;
        turn += 1;
      });
    }
    return turn;
  };
}

const eventFrame = (thread: string) => JSON.stringify({ type: 'event', agent_id: 'athena', thread_id: thread, payload: {} });
const replyFrame = (eventId: string) => JSON.stringify({ type: 'reply', event_id: eventId, content: 'done', finish_reason: 'stop' });

/** A relay on `backend` with one event delivered to athena, not yet answered. */
async function deliveredToAthena(backend: Backend) {
  const { relay, ctx } = relayOn(backend);
  const { agent, app } = await openAgentAndApp(relay);
  relay.received(app, eventFrame('portal:t1'));
  await until(() => agent.frames.some((f) => f.type === 'event'));
  const eventId = agent.frames.find((f) => f.type === 'event')?.event_id as string;
  return { relay, ctx, agent, app, eventId };
}

test.each([
  [true, ['finish', 'remove']],
  [false, ['finish']],
])('runsInCallOrder %s: sent before the finish is answered, %j', async (inCallOrder, before) => {
  const { backend, calls, open } = heldFinish(inCallOrder);
  const { relay, agent, app, eventId } = await deliveredToAthena(backend);
  relay.received(agent, replyFrame(eventId));
  await until(() => calls.includes('finish'));
  await wait(50);
  expect(calls).toEqual(before);
  open();
  await until(() => app.frames.some((f) => f.type === 'reply'));
  expect(calls).toEqual(['finish', 'remove']);
  await relay.drain();
});

test('a finish that fails after the removal was sent: what the removal freed is delivered, and the reply sent again ends the event', async () => {
  const backend: Backend = { ...freshBackend(), runsInCallOrder: true };
  await backend.registry.updateAgent('athena', { maxInFlight: 1 });
  const finish = backend.events.finish.bind(backend.events);
  let failNext = true;
  backend.events.finish = async (...args) => {
    if (failNext) {
      failNext = false;
      throw new Error('store down');
    }
    return finish(...args);
  };
  const { relay } = relayOn(backend);
  const { agent, app } = await openAgentAndApp(relay);
  relay.received(app, eventFrame('portal:a'));
  relay.received(app, eventFrame('portal:b')); // waits: athena takes one event at a time
  await until(() => agent.frames.filter((f) => f.type === 'event').length === 1);
  const [first] = agent.frames.filter((f) => f.type === 'event').map((f) => f.event_id as string);
  relay.received(agent, replyFrame(first as string));
  await until(() => agent.frames.filter((f) => f.type === 'event').length === 2); // the removal freed its place
  expect(agent.frames.find((f) => f.type === 'error')).toMatchObject({ code: 'RELAY_UNAVAILABLE' });
  expect(app.frames.some((f) => f.type === 'reply')).toBe(false);
  relay.received(agent, replyFrame(first as string));
  await until(() => app.frames.some((f) => f.type === 'reply' && f.event_id === first));
  await relay.drain();
});

test("the app's record, for its webhook, is read beside the finish: in the same turn, so in its write", async () => {
  const { backend, calls, open } = heldFinish(true);
  const turnNow = turnCounter();
  const { relay, agent, app, eventId } = await deliveredToAthena(backend);
  const turns: Record<string, number> = {};
  const read = backend.registry.app.bind(backend.registry);
  backend.registry.app = async (id) => {
    calls.push(`app ${id}`);
    turns.app = turnNow();
    return read(id);
  };
  const finish = backend.events.finish.bind(backend.events);
  backend.events.finish = (...args) => {
    turns.finish = turnNow();
    return finish(...args);
  };
  relay.received(agent, replyFrame(eventId));
  await until(() => calls.includes('finish'));
  await wait(50);
  expect(calls).toContain('app portal'); // while the finish is still unanswered
  expect(turns.app).toBe(turns.finish);
  open();
  await until(() => app.frames.some((f) => f.type === 'reply'));
  await relay.drain();
  expect(calls.filter((c) => c === 'app portal')).toHaveLength(1);
});

test("an app connection on another node: its presence entry is read beside the finish, not after it", async () => {
  const { backend, calls, open } = heldFinish(true);
  const turnNow = turnCounter();
  const n1 = relayOn(backend, {}, 'n1');
  const n2 = relayOn(backend, {}, 'n2');
  const { agent } = await openAgentAndApp(n1.relay);
  const app = fakeConnection('n2.1', 'app', 'portal');
  n2.relay.opened(app);
  for (let i = 0; i < 100 && (await backend.presence.get(app.id)) === null; i++) await wait(10);
  n2.relay.received(app, eventFrame('portal:elsewhere'));
  await until(() => agent.frames.some((f) => f.type === 'event'));
  const eventId = agent.frames.find((f) => f.type === 'event')?.event_id as string;

  const turns: Record<string, number> = {};
  const get = backend.presence.get.bind(backend.presence);
  backend.presence.get = async (connId) => {
    if (connId === app.id) {
      calls.push('presence');
      turns.presence = turnNow();
    }
    return get(connId);
  };
  const finish = backend.events.finish.bind(backend.events);
  backend.events.finish = (...args) => {
    turns.finish = turnNow();
    return finish(...args);
  };
  n1.relay.received(agent, replyFrame(eventId));
  await until(() => calls.includes('finish'));
  await wait(50);
  expect(calls).toContain('presence'); // while the finish is still unanswered
  expect(turns.presence).toBe(turns.finish);
  open();
  await until(() => app.frames.some((f) => f.type === 'reply' && f.event_id === eventId));
  expect(calls.filter((c) => c === 'presence')).toHaveLength(1);
  await n2.relay.drain();
  await n1.relay.drain();
});

test.each([
  [true, true],
  [false, false],
])("runsInCallOrder %s: the finish goes before the tokens' records are answered: %s", async (inCallOrder, finishedEarly) => {
  const backend: Backend = { ...freshBackend(), runsInCallOrder: inCallOrder };
  let writeAnswered!: () => void;
  const answered = new Promise<void>((resolve) => (writeAnswered = resolve));
  const flushed = backend.streams.flushed.bind(backend.streams);
  backend.streams.flushed = async (...args) => {
    await answered;
    return flushed(...args);
  };
  const calls: string[] = [];
  const finish = backend.events.finish.bind(backend.events);
  backend.events.finish = async (...args) => {
    calls.push('finish');
    return finish(...args);
  };
  const { relay, agent, app, eventId } = await deliveredToAthena(backend);
  relay.received(agent, JSON.stringify({ type: 'token', event_id: eventId, token: 'a' }));
  relay.received(agent, replyFrame(eventId));
  await wait(50);
  expect(calls.includes('finish')).toBe(finishedEarly);
  writeAnswered();
  await until(() => app.frames.some((f) => f.type === 'reply'));
  await relay.drain();
});

test.each([true, false])(
  'in call order %s: an event ended by its reply has its expiry cancelled and its stream ended, once, and a later end does neither',
  async (inCallOrder) => {
    const backend = backendInCallOrder(inCallOrder);
    const ended: string[] = [];
    const cancelled: string[] = [];
    const streamsEnded = backend.streams.ended.bind(backend.streams);
    backend.streams.ended = (eventId, agentId) => {
      ended.push(eventId);
      streamsEnded(eventId, agentId);
    };
    const cancel = backend.scheduler.cancel.bind(backend.scheduler);
    backend.scheduler.cancel = async (task) => {
      if (task.kind === 'expire') cancelled.push(task.eventId);
      return cancel(task);
    };
    const { relay, ctx, agent, app, eventId } = await deliveredToAthena(backend);
    relay.received(agent, replyFrame(eventId));
    await until(() => app.frames.some((f) => f.type === 'reply'));
    await relay.drain();
    expect(ended).toEqual([eventId]);
    expect(cancelled).toEqual([eventId]);
    // its expiry, come anyway (a sweep that claimed it before the cancel), ends nothing
    expect(await finishWithError(ctx, eventId, ErrorCode.EVENT_EXPIRED)).toBe(false);
    await relay.drain();
    expect(ended).toEqual([eventId]);
    expect(cancelled).toEqual([eventId]);
  },
);
