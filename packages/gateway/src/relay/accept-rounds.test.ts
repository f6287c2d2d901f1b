import { memoryBackend, openAgentAndApp, relayOn, until, wait } from '../testing/in-process';
import type { Backend } from '../ports';

// An accept's Redis steps go in as few round trips in a row as its rules allow (issue 13: under
// AOF each is an fsync before `accepted`). These pin which steps share a round, by holding one
// step back and seeing which others are already under way.

const made: Backend[] = [];
const freshBackend = () => {
  const backend = memoryBackend();
  made.push(backend);
  return backend;
};
afterEach(async () => {
  await Promise.all(made.splice(0).map((backend) => backend.close()));
});

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

const eventFrame = (ref: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ type: 'event', agent_id: 'athena', thread_id: `portal:${ref}`, payload: { ref }, ref, ...extra });

const answer = (frames: Record<string, unknown>[], ref: string) => frames.find((f) => f.ref === ref && (f.type === 'accepted' || f.type === 'error'));

test('a new event takes its order number and is recorded beside its rate check; one with an idempotency key is recorded only after the verdict', async () => {
  const backend = freshBackend();
  const appended: string[] = [];
  const append = backend.events.append.bind(backend.events);
  backend.events.append = async (event, ...rest) => {
    appended.push(JSON.parse(event.payloadRaw).ref as string);
    return append(event, ...rest);
  };
  let orders = 0;
  const nextOrder = backend.events.nextOrder.bind(backend.events);
  backend.events.nextOrder = (agentId) => {
    orders += 1;
    return nextOrder(agentId);
  };
  let verdict = gate();
  const hit = backend.rateLimiter.hit.bind(backend.rateLimiter);
  backend.rateLimiter.hit = async (...args) => {
    await verdict.opened;
    return hit(...args);
  };
  const { relay } = relayOn(backend);
  const { app } = await openAgentAndApp(relay);

  relay.received(app, eventFrame('a'));
  await until(() => appended.length === 1 && orders === 1); // while the rate check is held
  expect(answer(app.frames, 'a')).toBeUndefined();
  verdict.open();
  await until(() => answer(app.frames, 'a') !== undefined);
  expect(answer(app.frames, 'a')).toMatchObject({ type: 'accepted' });

  verdict = gate();
  relay.received(app, eventFrame('b', { idempotency_key: 'k-b' }));
  await until(() => orders === 2);
  await wait(50);
  expect(appended).toEqual(['a']); // a claimed key answers resends: not before the verdict
  verdict.open();
  await until(() => answer(app.frames, 'b') !== undefined);
  expect(answer(app.frames, 'b')).toMatchObject({ type: 'accepted' });
  expect(appended).toEqual(['a', 'b']);
  await relay.drain();
});

test("an event the rate limiter refuses leaves no record behind, though it was written beside the check", async () => {
  const backend = freshBackend();
  await backend.registry.updateApp('portal', { rateLimitPerMin: 1, hardRateLimitPerMin: 1 });
  const ids: Record<string, string> = {};
  const append = backend.events.append.bind(backend.events);
  backend.events.append = async (event, ...rest) => {
    const appended = await append(event, ...rest);
    ids[JSON.parse(event.payloadRaw).ref as string] = appended.record.id;
    return appended;
  };
  const { relay } = relayOn(backend);
  const { app } = await openAgentAndApp(relay);
  relay.received(app, eventFrame('a'));
  relay.received(app, eventFrame('b'));
  await until(() => answer(app.frames, 'b') !== undefined);
  expect(answer(app.frames, 'a')).toMatchObject({ type: 'accepted' });
  expect(answer(app.frames, 'b')).toMatchObject({ type: 'error', code: 'RATE_LIMITED' });
  expect(ids.b).toBeDefined(); // it was written
  await relay.drain();
  expect(await backend.events.get(ids.b as string)).toBeNull(); // and is gone
  expect(await backend.events.get(ids.a as string)).not.toBeNull();
});
