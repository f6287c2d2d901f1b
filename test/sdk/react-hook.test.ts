/**
 * @relay/sdk/react's useReplyStream, run by a minimal hooks runtime (React is an optional peer
 * and not installed here: the hook uses only useState and useEffect, which this runtime keeps to
 * React's rules), against examples/react-reply-stream/server.js proxying a real gateway.
 */
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Server } from 'node:http';
import { backendsUnderTest } from '../support/backends';
import { useRelay } from '../support/relay-fixture';

/** One component's hooks: state cells and effects with their deps, re-run on every state change. */
const runtime = {
  cells: [] as unknown[],
  effects: [] as Array<{ deps: readonly unknown[] | undefined; cleanup: void | (() => void) }>,
  index: 0,
  render: (() => {}) as () => void,
};
jest.mock(
  'react',
  () => ({
    useState<T>(initial: T) {
      const i = runtime.index++;
      if (!(i in runtime.cells)) runtime.cells[i] = initial;
      const set = (next: T | ((previous: T) => T)) => {
        runtime.cells[i] = typeof next === 'function' ? (next as (p: T) => T)(runtime.cells[i] as T) : next;
        queueMicrotask(runtime.render);
      };
      return [runtime.cells[i], set];
    },
    useEffect(effect: () => void | (() => void), deps?: readonly unknown[]) {
      const i = runtime.index++;
      const old = runtime.effects[i];
      const changed = !old || !deps || !old.deps || deps.some((d, k) => !Object.is(d, old.deps?.[k]));
      if (!changed) return;
      if (old && typeof old.cleanup === 'function') old.cleanup();
      runtime.effects[i] = { deps, cleanup: undefined };
      const slot = runtime.effects[i] as { cleanup: void | (() => void) };
      queueMicrotask(() => (slot.cleanup = effect()));
    },
  }),
  { virtual: true },
);

// imported after the mock: the hook binds 'react' when loaded
import { useReplyStream, type ReplyStream } from '../../packages/sdk/src/react';

/** Renders the hook for `url` and keeps every state it returned. */
function mount(url: string) {
  const seen: ReplyStream[] = [];
  runtime.cells = [];
  runtime.effects = [];
  runtime.render = () => {
    runtime.index = 0;
    seen.push(useReplyStream(url, { backoff: { initialMs: 10, maxMs: 50 } }));
  };
  runtime.render();
  return {
    seen,
    latest: () => seen[seen.length - 1] as ReplyStream,
    unmount: () => runtime.effects.forEach((e) => typeof e.cleanup === 'function' && e.cleanup()),
  };
}

async function until(done: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe.each(backendsUnderTest({ singleNode: true }))('useReplyStream through the example backend ($name backend)', (backend) => {
  const r = useRelay(backend, { perTest: true });
  let server: Server;
  let base: string;
  beforeEach(async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { createBackend } = require(path.resolve(__dirname, '../../examples/react-reply-stream/server.js'));
    server = createBackend({ relayUrl: r.relay.httpUrl, token: r.tokens.portal });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  test('the page asks, and the hook shows the answer as it grows, then the final', async () => {
    const agent = await r.connect('athena');
    const asked = await fetch(`${base}/ask`, { method: 'POST', body: JSON.stringify({ question: 'sum up' }) });
    const { event_id: id } = (await asked.json()) as { event_id: string };
    const event = await agent.nextOf('event', id);
    expect(event.payload).toEqual({ question: 'sum up' });

    const hook = mount(`${base}/reply/${id}`);
    agent.send({ type: 'token', event_id: id, token: 'In ' });
    await until(() => hook.latest().text === 'In ');
    agent.send({ type: 'token', event_id: id, token: 'short' });
    await until(() => hook.latest().text === 'In short');
    agent.send({ type: 'reply', event_id: id, content: 'In short: ship it.', finish_reason: 'stop' });
    await until(() => hook.latest().done);
    expect(hook.latest()).toMatchObject({ text: 'In short: ship it.', tokens: ['In ', 'short'], error: undefined, done: true });
    expect(hook.latest().final).toMatchObject({ type: 'reply', event_id: id });
    hook.unmount();
  });

  test('a stream the proxy breaks is resumed from its last token: no token lost or shown twice', async () => {
    const agent = await r.connect('athena');
    const asked = await fetch(`${base}/ask`, { method: 'POST', body: '{"question":"q"}' });
    const { event_id: id } = (await asked.json()) as { event_id: string };
    await agent.nextOf('event', id);
    const hook = mount(`${base}/reply/${id}`);
    for (const t of ['a', 'b']) agent.send({ type: 'token', event_id: id, token: t });
    await until(() => hook.latest().text === 'ab');
    server.closeAllConnections(); // the page's connection drops mid-answer
    agent.send({ type: 'token', event_id: id, token: 'c' });
    agent.send({ type: 'reply', event_id: id, content: 'abc', finish_reason: 'stop' });
    await until(() => hook.latest().done);
    expect(hook.latest()).toMatchObject({ text: 'abc', tokens: ['a', 'b', 'c'], done: true });
    expect(hook.seen.every((s) => s.tokens.join('') === 'abc'.slice(0, s.tokens.length))).toBe(true);
    hook.unmount();
  });

  test('an unknown event: the hook ends with the error', async () => {
    const hook = mount(`${base}/reply/evt_01NOSUCHEVENTXXXXX`);
    await until(() => hook.latest().done);
    expect(hook.latest().error).toMatchObject({ code: 'UNKNOWN_EVENT' });
    hook.unmount();
  });
});
