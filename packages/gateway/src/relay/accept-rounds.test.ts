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

/** Counts calls of `nextOrder`, and holds the agent's registry read while `held` is set. */
function watch(backend: Backend) {
  const seen = { orders: 0, held: undefined as Promise<void> | undefined };
  const nextOrder = backend.events.nextOrder.bind(backend.events);
  backend.events.nextOrder = (agentId) => {
    seen.orders += 1;
    return nextOrder(agentId);
  };
  const agent = backend.registry.agent.bind(backend.registry);
  backend.registry.agent = async (id) => {
    if (seen.held) await seen.held;
    return agent(id);
  };
  return seen;
}

test("an app's first event to an agent takes its order number after its checks; its next ones, beside them", async () => {
  const backend = freshBackend();
  const seen = watch(backend);
  const { relay } = relayOn(backend);
  const { app } = await openAgentAndApp(relay);

  const first = gate();
  seen.held = first.opened;
  relay.received(app, eventFrame('a'));
  await wait(50);
  expect(seen.orders).toBe(0); // not known to be allowed yet: no number before the registry says so
  first.open();
  await until(() => answer(app.frames, 'a') !== undefined);
  expect(answer(app.frames, 'a')).toMatchObject({ type: 'accepted' });
  expect(seen.orders).toBe(1);

  const second = gate();
  seen.held = second.opened;
  relay.received(app, eventFrame('b'));
  await until(() => seen.orders === 2); // taken while its registry read is still held
  expect(answer(app.frames, 'b')).toBeUndefined();
  second.open();
  await until(() => answer(app.frames, 'b') !== undefined);
  expect(answer(app.frames, 'b')).toMatchObject({ type: 'accepted' });
  await relay.drain();
});

test('a refusal by the registry makes the next event wait for its checks before it takes a number again', async () => {
  const backend = freshBackend();
  const seen = watch(backend);
  const { relay } = relayOn(backend);
  const { app } = await openAgentAndApp(relay);
  relay.received(app, eventFrame('a'));
  await until(() => answer(app.frames, 'a') !== undefined);

  await backend.registry.updateAgent('athena', { allowApps: ['flow'] });
  relay.received(app, eventFrame('b'));
  await until(() => answer(app.frames, 'b') !== undefined);
  expect(answer(app.frames, 'b')).toMatchObject({ type: 'error', code: 'ALLOWLIST_DENIED' });

  await backend.registry.updateAgent('athena', { allowApps: ['portal'] });
  const orders = seen.orders;
  const held = gate();
  seen.held = held.opened;
  relay.received(app, eventFrame('c'));
  await wait(50);
  expect(seen.orders).toBe(orders);
  held.open();
  await until(() => answer(app.frames, 'c') !== undefined);
  expect(answer(app.frames, 'c')).toMatchObject({ type: 'accepted' });
  await relay.drain();
});

test('a new event is recorded beside its rate check; one with an idempotency key only after the verdict', async () => {
  const backend = freshBackend();
  const appended: string[] = [];
  const append = backend.events.append.bind(backend.events);
  backend.events.append = async (event, ...rest) => {
    appended.push(JSON.parse(event.payloadRaw).ref as string);
    return append(event, ...rest);
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
  await until(() => appended.length === 1); // while the rate check is held
  verdict.open();
  await until(() => answer(app.frames, 'a') !== undefined);
  expect(answer(app.frames, 'a')).toMatchObject({ type: 'accepted' });

  verdict = gate();
  relay.received(app, eventFrame('b', { idempotency_key: 'k-b' }));
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
