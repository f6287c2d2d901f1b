import { memoryBackendPerTest, openAgentAndApp, relayOn, until, wait } from '../testing/in-process';

// An accept's Redis steps go in as few round trips in a row as its rules allow (issue 13: under
// AOF each is an fsync before `accepted`). These pin which steps share a round, by holding one
// step back and seeing which others are already under way.

const freshBackend = memoryBackendPerTest();

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

const eventFrame = (ref: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ type: 'event', agent_id: 'athena', thread_id: `portal:${ref}`, payload: { ref }, ref, ...extra });

const answer = (frames: Record<string, unknown>[], ref: string) => frames.find((f) => f.ref === ref && (f.type === 'accepted' || f.type === 'error'));

test("a socket's new events are appended together, each with its rate check, order number and key in one call, and answered once it resolves", async () => {
  const backend = freshBackend();
  const appended: string[] = [];
  const answered = gate();
  const append = backend.events.append.bind(backend.events);
  backend.events.append = async (event, key, ttlMs, admission) => {
    appended.push(JSON.parse(event.payloadRaw).ref as string);
    expect(admission).toMatchObject({ rate: expect.any(Object), queueNow: true });
    const result = append(event, key, ttlMs, admission); // taken now, as the port says; answered once the gate opens
    await answered.opened;
    return result;
  };
  const { relay } = relayOn(backend);
  const { app } = await openAgentAndApp(relay);

  relay.received(app, eventFrame('a'));
  relay.received(app, eventFrame('b', { idempotency_key: 'k-b' }));
  await until(() => appended.length === 2); // b did not wait for a's append to be answered
  await wait(20);
  expect(answer(app.frames, 'a')).toBeUndefined();
  answered.open();
  await until(() => answer(app.frames, 'b') !== undefined);
  expect(answer(app.frames, 'a')).toMatchObject({ type: 'accepted' });
  expect(answer(app.frames, 'b')).toMatchObject({ type: 'accepted' });
  expect((await backend.events.findByKey('portal', 'k-b', Date.now()))?.id).toBe(answer(app.frames, 'b')?.event_id);
  await relay.drain();
});

test("an event whose session has an earlier one still being queued on its socket is not queued in its append's step", async () => {
  const backend = freshBackend();
  const queueNow: Record<string, boolean> = {};
  const append = backend.events.append.bind(backend.events);
  backend.events.append = async (event, key, ttlMs, admission) => {
    queueNow[JSON.parse(event.payloadRaw).ref as string] = admission?.queueNow as boolean;
    return append(event, key, ttlMs, admission);
  };
  const { relay } = relayOn(backend);
  const { app } = await openAgentAndApp(relay);
  relay.received(app, eventFrame('a'));
  relay.received(app, JSON.stringify({ type: 'event', agent_id: 'athena', thread_id: 'portal:a', payload: { ref: 'a2' }, ref: 'a2' }));
  relay.received(app, eventFrame('b'));
  await until(() => answer(app.frames, 'b') !== undefined);
  expect(queueNow).toEqual({ a: true, a2: false, b: true });
  await relay.drain();
});

test.each([
  ['without an idempotency key', {}],
  ['with one', { idempotency_key: 'k-refused' }],
])('an event the rate limiter refuses leaves no record behind, though it was written beside the check (%s)', async (_, extra) => {
  const backend = freshBackend();
  await backend.registry.updateApp('portal', { rateLimitPerMin: 1, hardRateLimitPerMin: 1 });
  const ids: Record<string, string> = {};
  const append = backend.events.append.bind(backend.events);
  backend.events.append = async (event, ...rest) => {
    ids[JSON.parse(event.payloadRaw).ref as string] = event.id;
    return append(event, ...rest);
  };
  const { relay } = relayOn(backend);
  const { app } = await openAgentAndApp(relay);
  relay.received(app, eventFrame('a'));
  relay.received(app, eventFrame('b', extra));
  await until(() => answer(app.frames, 'b') !== undefined);
  expect(answer(app.frames, 'a')).toMatchObject({ type: 'accepted' });
  expect(answer(app.frames, 'b')).toMatchObject({ type: 'error', code: 'RATE_LIMITED' });
  expect(ids.b).toBeDefined(); // it was written
  await relay.drain();
  expect(await backend.events.get(ids.b as string)).toBeNull(); // and is gone
  expect(await backend.events.get(ids.a as string)).not.toBeNull();
  expect(await backend.events.findByKey('portal', 'k-refused', Date.now())).toBeNull();
});
