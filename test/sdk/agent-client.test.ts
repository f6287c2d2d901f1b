/**
 * The agent client against a real gateway process (a fresh node per test): concurrency and
 * session order, cancel through the AbortSignal, automatic error replies, and deduplication of
 * redelivered events when a socket is cut mid-answer (the relay redelivers at least once).
 */
import { createAgentClient, createAppClient, RelayError, type AgentClient, type AgentClientOptions, type AppClient } from '@relay/sdk';
import { backendsUnderTest } from '../support/backends';
import { startRelay, type RelayProcess } from '../support/relay-process';
import { testRegistry } from '../support/registry';
import { recordingWebSocket } from './support/recording-socket';
import { FAST, gate, nextState, sleep, until } from './support/sdk-helpers';
import { TcpProxy } from './support/tcp-proxy';

describe.each(backendsUnderTest())('agent client ($name backend)', (backend) => {
  let relay: RelayProcess;
  let tokens: ReturnType<typeof testRegistry>['tokens'];
  const clients: (AppClient | AgentClient)[] = [];
  const proxies: TcpProxy[] = [];
  const agent = (options: Partial<AgentClientOptions> = {}) => {
    const client = createAgentClient({ url: relay.url, token: tokens.athena, ...FAST, ...options });
    clients.push(client);
    return client;
  };
  const app = (options: Partial<AgentClientOptions> = {}) => {
    const client = createAppClient({ url: relay.url, token: tokens.portal, ...FAST, ...options });
    clients.push(client);
    return client;
  };
  const proxy = async () => {
    const p = await TcpProxy.start(relay.port);
    proxies.push(p);
    return p;
  };

  beforeEach(async () => {
    const test = testRegistry();
    tokens = test.tokens;
    relay = await startRelay({ registry: test.registry, env: await backend.env() });
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await Promise.all(proxies.splice(0).map((p) => p.close()));
    expect(await relay.stop()).toBe(0);
    await backend.teardown();
  });

  test('runs at most `concurrency` handlers at once, and answers every event', async () => {
    let running = 0;
    let most = 0;
    const athena = agent({ concurrency: 2 }).onEvent(async (event, reply) => {
      most = Math.max(most, ++running);
      await sleep(60);
      running--;
      return reply.done(`answer to ${event.thread_id}`);
    });
    await athena.opened();
    const portal = app();
    const handles = await Promise.all([1, 2, 3, 4, 5].map((n) => portal.send('athena', `portal:s-${n}`, { n })));
    const replies = await Promise.all(handles.map((h) => h.reply));
    expect(replies.map((r) => r.content)).toEqual([1, 2, 3, 4, 5].map((n) => `answer to portal:s-${n}`));
    expect(most).toBe(2);
  });

  test('events of one session run one at a time, in order; other sessions run beside them', async () => {
    const log: string[] = [];
    // task-a's first event does not end until task-b's has started: were sessions not run side
    // by side, task-b would wait behind it for ever and the test would time out. No timing.
    const bStarted = gate();
    const athena = agent({ concurrency: 4 }).onEvent(async (event, reply) => {
      const { n } = event.payload as { n: number };
      log.push(`start ${event.session_key.split(':').pop()} ${n}`);
      if (n === 9) bStarted.open();
      if (n === 1) await bStarted.promise;
      await sleep(10);
      log.push(`end ${event.session_key.split(':').pop()} ${n}`);
      return reply.done(String(n));
    });
    await athena.opened();
    const portal = app();
    const handles = [];
    for (const n of [1, 2, 3]) handles.push(await portal.send('athena', `portal:task-a:c-${n}`, { n }));
    handles.push(await portal.send('athena', 'portal:task-b:c-1', { n: 9 }));
    await Promise.all(handles.map((h) => h.reply));
    const taskA = log.filter((line) => line.includes('task-a'));
    expect(taskA).toEqual(['start task-a 1', 'end task-a 1', 'start task-a 2', 'end task-a 2', 'start task-a 3', 'end task-a 3']);
    // task-b did not wait for task-a's queue: it started before task-a's first event ended
    expect(log.indexOf('start task-b 9')).toBeLessThan(log.indexOf('end task-a 1'));
  });

  test('cancel: the AbortSignal fires at the agent, the app promise rejects with CANCELLED, nothing more is sent', async () => {
    const started = gate();
    const aborted = gate<unknown>();
    const late = gate<unknown>();
    const athena = agent().onEvent(async (_event, reply) => {
      reply.token('thinking');
      started.open();
      await new Promise<void>((resolve) => reply.signal.addEventListener('abort', () => resolve()));
      aborted.open(reply.signal.reason);
      reply.token('ignored');
      late.open(reply.done('too late'));
    });
    await athena.opened();
    const recording = recordingWebSocket();
    const portal = app({ WebSocket: recording.WebSocket });
    const handle = await portal.send('athena', 'portal:cancel-me', {});
    await started.promise;
    // Cancel once the app has the token: on a cluster it may still be on its way from the
    // agent's node, and a token arriving after the final is dropped by the relay.
    const tokens = handle.tokens[Symbol.asyncIterator]();
    expect((await tokens.next()).value).toMatchObject({ text: 'thinking' });
    expect(await handle.cancel()).toBe(true);
    await expect(handle.reply).rejects.toMatchObject({ code: 'CANCELLED', eventId: handle.eventId });
    const reason = await aborted.promise;
    expect(reason).toBeInstanceOf(RelayError);
    expect(reason).toMatchObject({ code: 'CANCELLED' });
    expect(await late.promise).toEqual({ eventId: handle.eventId, finishReason: 'stop', sent: false });
    await sleep(100);
    const ours = recording.received.filter((f) => f.event_id === handle.eventId);
    expect(ours.map((f) => f.type)).toEqual(['accepted', 'token', 'error']);
    expect(await handle.cancel()).toBe(false); // already ended
  });

  test('a handler that returns without replying: the app gets finish_reason "error"', async () => {
    const athena = agent().onEvent(async () => undefined);
    await athena.opened();
    const handle = await app().send('athena', 'portal:no-reply', {});
    await expect(handle.reply).resolves.toMatchObject({ finish_reason: 'error', error: 'The handler returned without a reply' });
  });

  test('a socket cut mid-answer: the redelivered event joins the running handler, which answers once on the new socket', async () => {
    const agentProxy = await proxy();
    const agentWire = recordingWebSocket();
    const release = gate();
    const runs: number[] = [];
    const athena = agent({ url: agentProxy.url, WebSocket: agentWire.WebSocket }).onEvent(async (event, reply) => {
      runs.push(event.attempt);
      reply.token('partial ');
      await release.promise;
      reply.token('rest');
      return reply.done('partial rest');
    });
    await athena.opened();
    const appWire = recordingWebSocket();
    const handle = await app({ WebSocket: appWire.WebSocket }).send('athena', 'portal:cut', { q: 1 });
    await until(() => runs.length === 1, 5_000, 'the handler to start');

    const reopened = nextState(athena, 'open');
    agentProxy.cut();
    await reopened;
    const deliveries = () => agentWire.received.filter((f) => f.type === 'event' && f.event_id === handle.eventId);
    await until(() => deliveries().length === 2, 5_000, 'the redelivery');
    expect(deliveries().map((f) => f.attempt)).toEqual([1, 2]);
    release.open();

    const reply = await handle.reply;
    expect(reply).toMatchObject({ content: 'partial rest', finish_reason: 'stop', payload: { q: 1 } });
    expect(runs).toEqual([1]);
    await sleep(100);
    expect(appWire.received.filter((f) => f.type === 'reply')).toHaveLength(1);
    // the token after the cut went out on the new socket, where the relay held the event again
    expect(appWire.received.filter((f) => f.type === 'token').map((f) => f.token)).toContain('rest');
  });

  test('two agent connections: the one holding the event is cut; the other answers it once, and the first never answers', async () => {
    const cutProxy = await proxy();
    const release = gate();
    const firstRuns: string[] = [];
    const first = agent({ url: cutProxy.url }).onEvent(async (event, reply) => {
      firstRuns.push(event.event_id);
      await release.promise;
      return reply.done('from the first');
    });
    const firstErrors: RelayError[] = [];
    first.on('error', (e) => firstErrors.push(e));
    await first.opened();
    const appWire = recordingWebSocket();
    const handle = await app({ WebSocket: appWire.WebSocket }).send('athena', 'portal:two', {});
    await until(() => firstRuns.length === 1, 5_000, 'the first agent to take the event');

    const secondAttempts: number[] = [];
    const second = agent().onEvent((event, reply) => {
      secondAttempts.push(event.attempt);
      return reply.done('from the second');
    });
    await second.opened();
    cutProxy.cut();
    await expect(handle.reply).resolves.toMatchObject({ content: 'from the second' });
    expect(secondAttempts).toEqual([2]);

    await nextState(first, 'open');
    release.open();
    await sleep(200);
    expect(appWire.received.filter((f) => f.type === 'reply' || f.type === 'error')).toHaveLength(1);
    expect(firstErrors).toEqual([]); // it did not even try: its new socket never held the event
  });
});
