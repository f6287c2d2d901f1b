/**
 * The app client across lost sockets, against real gateway processes. Sockets are cut at the
 * TCP level through a proxy (the client sees 1006, as when a network or a node dies): a send
 * whose `accepted` was lost is resent with the same idempotency key and comes back as the same
 * event; an accepted event's tokens and final follow the client to its new socket; a final that
 * arrives while it is away is delivered on reconnect; and each final reaches it exactly once.
 */
import { createAgentClient, createAppClient, type AgentClient, type AppClient, type ClientOptions } from '@relay/sdk';
import { backendsUnderTest, type BackendUnderTest } from '../support/backends';
import { startRelay, type RelayProcess } from '../support/relay-process';
import { testRegistry } from '../support/registry';
import { recordingWebSocket } from './support/recording-socket';
import { FAST, gate, nextState, sleep, until } from './support/sdk-helpers';
import { TcpProxy } from './support/tcp-proxy';

/** A started relay (or two on one backend), clients and proxies, all closed after each test. */
function harness(backend: BackendUnderTest) {
  const relays: RelayProcess[] = [];
  const clients: (AppClient | AgentClient)[] = [];
  const proxies: TcpProxy[] = [];
  let tokens: ReturnType<typeof testRegistry>['tokens'];
  let registry: unknown;
  let env: Record<string, string>;

  beforeEach(async () => {
    ({ tokens, registry } = testRegistry());
    env = await backend.env();
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await Promise.all(proxies.splice(0).map((p) => p.close()));
    await Promise.all(relays.splice(0).map((r) => r.stop('SIGKILL')));
    await backend.teardown();
  });

  return {
    get tokens() {
      return tokens;
    },
    /** A node on this test's backend; several calls make nodes that share it. */
    async node(): Promise<RelayProcess> {
      const relay = await startRelay({ registry, env });
      relays.push(relay);
      return relay;
    },
    async proxy(to: RelayProcess): Promise<TcpProxy> {
      const p = await TcpProxy.start(to.port);
      proxies.push(p);
      return p;
    },
    app(options: Partial<ClientOptions> & { url: string }): AppClient {
      const client = createAppClient({ token: tokens.portal, ...FAST, ...options });
      clients.push(client);
      return client;
    },
    agent(options: Partial<ClientOptions> & { url: string }): AgentClient {
      const client = createAgentClient({ token: tokens.athena, ...FAST, ...options });
      clients.push(client);
      return client;
    },
  };
}

/** An agent that streams `before`, waits for the gate, streams `after`, then replies with both. */
function gatedAgent(agent: AgentClient, before: string, after: string) {
  const release = gate();
  const events: { id: string; attempt: number }[] = [];
  agent.onEvent(async (event, reply) => {
    events.push({ id: event.event_id, attempt: event.attempt });
    reply.token(before);
    await release.promise;
    reply.token(after);
    return reply.done(before + after);
  });
  return { release: () => release.open(), events };
}

describe.each(backendsUnderTest())('app client reconnects ($name backend)', (backend) => {
  const h = harness(backend);

  test('a send whose accepted was lost is resent with the same idempotency key: same event_id, one event, one final', async () => {
    const relay = await h.node();
    const athena = gatedAgent(h.agent({ url: relay.url }), 'one ', 'two');
    const proxy = await h.proxy(relay);
    const wire = recordingWebSocket();
    const portal = h.app({ url: proxy.url, WebSocket: wire.WebSocket });
    await portal.opened();

    proxy.blackhole = true; // the relay's `accepted` is lost on the way
    const sending = portal.send('athena', 'portal:resend', { q: 'lost accepted' });
    await until(() => athena.events.length === 1, 5_000, 'the agent to get the event');
    proxy.blackhole = false;
    proxy.cut();

    const handle = await sending;
    expect(handle.eventId).toBe(athena.events[0]?.id);
    athena.release();
    await expect(handle.reply).resolves.toMatchObject({ content: 'one two', payload: { q: 'lost accepted' } });
    await sleep(150);
    expect(athena.events).toEqual([{ id: handle.eventId, attempt: 1 }]); // the resend made no second event
    expect(wire.sockets).toHaveLength(2);
    expect(wire.received.filter((f) => f.type === 'accepted').map((f) => f.event_id)).toEqual([handle.eventId]);
    expect(wire.received.filter((f) => f.type === 'reply')).toHaveLength(1);
  });

  test("an accepted event's tokens and final follow the client to its new socket", async () => {
    const relay = await h.node();
    const athena = gatedAgent(h.agent({ url: relay.url }), 'one ', 'two');
    const proxy = await h.proxy(relay);
    const wire = recordingWebSocket();
    const portal = h.app({ url: proxy.url, WebSocket: wire.WebSocket });
    const handle = await portal.send('athena', 'portal:follow', {});
    const tokens: string[] = [];
    const streaming = (async () => {
      for await (const t of handle.tokens) tokens.push(t.text);
    })();
    await until(() => tokens.length === 1, 5_000, 'the first token');

    proxy.cut();
    await nextState(portal, 'open');
    // the resend's accepted (same id) tells us the relay now streams to the new socket
    await until(() => wire.received.filter((f) => f.type === 'accepted').length === 2, 5_000, 'the resend to be answered');
    expect(new Set(wire.received.filter((f) => f.type === 'accepted').map((f) => f.event_id))).toEqual(new Set([handle.eventId]));
    athena.release();

    await expect(handle.reply).resolves.toMatchObject({ content: 'one two' });
    await streaming;
    expect(tokens).toEqual(['one ', 'two']);
    await sleep(150);
    expect(wire.received.filter((f) => f.type === 'reply')).toHaveLength(1);
  });

  test('a final that arrives while the client is away is delivered when it reconnects, once', async () => {
    const relay = await h.node();
    const athena = gatedAgent(h.agent({ url: relay.url }), 'one ', 'two');
    const proxy = await h.proxy(relay);
    const wire = recordingWebSocket();
    const states: string[] = [];
    const portal = h.app({ url: proxy.url, WebSocket: wire.WebSocket });
    portal.on('state', (s) => states.push(s.state));
    const handle = await portal.send('athena', 'portal:away', {});
    await until(() => athena.events.length === 1, 5_000, 'the agent to get the event');

    proxy.target = 1; // nothing listens there: reconnects fail until the target is restored
    proxy.cut();
    await until(() => states.filter((s) => s === 'reconnecting').length >= 2, 5_000, 'failed reconnects');
    athena.release(); // the reply finds no app connection and waits at the relay
    await sleep(200);
    proxy.target = relay.port;

    await expect(handle.reply).resolves.toMatchObject({ content: 'one two' });
    await sleep(150);
    expect(wire.received.filter((f) => f.type === 'reply')).toHaveLength(1);
    expect(athena.events).toHaveLength(1);
  });

  test('tokens (and the final) sent while the client is away: it resumes, and the stream has each token once, in order', async () => {
    const relay = await h.node();
    const release = gate();
    const athena = h.agent({ url: relay.url }).onEvent(async (_event, reply) => {
      reply.token('one ');
      await release.promise;
      for (const t of ['two ', 'three ', 'four']) reply.token(t);
      return reply.done('one two three four');
    });
    await athena.opened();
    const proxy = await h.proxy(relay);
    const states: string[] = [];
    const portal = h.app({ url: proxy.url });
    portal.on('state', (s) => states.push(s.state));
    const handle = await portal.send('athena', 'portal:resume', {});
    const tokens: [number, number, string][] = [];
    const streaming = (async () => {
      for await (const t of handle.tokens) tokens.push([t.attempt, t.seq, t.text]);
    })();
    await until(() => tokens.length === 1, 5_000, 'the first token');

    proxy.target = 1; // nothing listens there: reconnects fail until the target is restored
    proxy.cut();
    await until(() => states.filter((s) => s === 'reconnecting').length >= 2, 5_000, 'failed reconnects');
    release.open(); // the rest of the answer, and its final, while the client is away
    await sleep(200);
    proxy.target = relay.port;

    await expect(handle.reply).resolves.toMatchObject({ content: 'one two three four' });
    await streaming;
    expect(tokens).toEqual([
      [1, 0, 'one '],
      [1, 1, 'two '],
      [1, 2, 'three '],
      [1, 3, 'four'],
    ]);
  });

  test('a send made while disconnected waits, then goes out once the client is back', async () => {
    const relay = await h.node();
    const agent = h.agent({ url: relay.url }).onEvent((event, reply) => reply.done(`got ${JSON.stringify(event.payload)}`));
    await agent.opened();
    const proxy = await h.proxy(relay);
    const portal = h.app({ url: proxy.url });
    await portal.opened();
    proxy.target = 1;
    proxy.cut();
    await nextState(portal, 'reconnecting');
    const sending = portal.send('athena', 'portal:later', { n: 1 });
    const discovering = portal.discover();
    await sleep(150);
    proxy.target = relay.port;
    const handle = await sending;
    await expect(handle.reply).resolves.toMatchObject({ content: 'got {"n":1}' });
    expect((await discovering).map((a) => a.id).sort()).toEqual(['athena', 'klyve']);
  });
});

// A node that is killed loses the events it accepted only on a backend that is not durable: the
// memory backend dies with its node. So this runs on every other backend (Redis).
const durable = backendsUnderTest().filter((b) => b.name !== 'memory');
if (durable.length > 0) {
  describe.each(durable)('app client survives a node kill ($name backend)', (backend) => {
    const h = harness(backend);

    test('node A is killed (SIGKILL) mid-answer; the client reconnects to node B, resends, and gets the rest of the stream and the final once', async () => {
      const nodeA = await h.node();
      const nodeB = await h.node();
      const athena = gatedAgent(h.agent({ url: nodeB.url }), 'one ', 'two');
      const proxy = await h.proxy(nodeA); // the "load balancer": nodeA until it dies
      const wire = recordingWebSocket();
      const portal = h.app({ url: proxy.url, WebSocket: wire.WebSocket });
      const handle = await portal.send('athena', 'portal:kill', { q: 'survive' });
      await until(() => athena.events.length === 1, 5_000, 'the agent to get the event');

      proxy.target = nodeB.port;
      expect(await nodeA.stop('SIGKILL')).toBe('SIGKILL');
      await until(() => wire.received.filter((f) => f.type === 'accepted').length === 2, 10_000, 'the resend to node B to be answered');
      athena.release();

      await expect(handle.reply).resolves.toMatchObject({ content: 'one two', payload: { q: 'survive' } });
      await sleep(200);
      // tokens are live only: 'one ' may have died with node A; 'two' came after the resend, to B
      expect(wire.received.filter((f) => f.type === 'token').map((f) => f.token)).toContain('two');
      expect(wire.received.filter((f) => f.type === 'reply' && f.event_id === handle.eventId)).toHaveLength(1);
      expect(athena.events).toEqual([{ id: handle.eventId, attempt: 1 }]);
    }, 30_000);

    test('node A is killed and the agent answers while the client is still away: the final reaches it on node B, once', async () => {
      const nodeA = await h.node();
      const nodeB = await h.node();
      const athena = gatedAgent(h.agent({ url: nodeB.url }), 'one ', 'two');
      const proxy = await h.proxy(nodeA);
      const wire = recordingWebSocket();
      const portal = h.app({ url: proxy.url, WebSocket: wire.WebSocket });
      const handle = await portal.send('athena', 'portal:kill-away', {});
      await until(() => athena.events.length === 1, 5_000, 'the agent to get the event');

      proxy.target = 1; // nothing listens: the client keeps retrying while the reply is made
      await nodeA.stop('SIGKILL');
      await nextState(portal, 'reconnecting');
      athena.release();
      await sleep(300);
      proxy.target = nodeB.port;

      await expect(handle.reply).resolves.toMatchObject({ content: 'one two' });
      await sleep(200);
      expect(wire.received.filter((f) => f.type === 'reply' && f.event_id === handle.eventId)).toHaveLength(1);
    }, 30_000);

    test('node A is killed right after accepting: the send is resent to node B and answered, not duplicated', async () => {
      const nodeA = await h.node();
      const nodeB = await h.node();
      const athena = gatedAgent(h.agent({ url: nodeB.url }), 'one ', 'two');
      const proxy = await h.proxy(nodeA);
      const portal = h.app({ url: proxy.url });
      await portal.opened();
      proxy.blackhole = true; // node A accepts, but the client never hears it
      const sending = portal.send('athena', 'portal:kill-accept', {});
      await until(() => athena.events.length === 1, 5_000, 'the agent to get the event');
      proxy.target = nodeB.port;
      proxy.blackhole = false;
      await nodeA.stop('SIGKILL');

      const handle = await sending;
      expect(handle.eventId).toBe(athena.events[0]?.id);
      athena.release();
      await expect(handle.reply).resolves.toMatchObject({ content: 'one two' });
      expect(athena.events).toHaveLength(1);
    }, 30_000);
  });
}
