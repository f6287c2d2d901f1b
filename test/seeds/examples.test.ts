/**
 * examples/echo-agent.js and examples/send-event.js, run the way the dev banner tells a new user
 * to run them: as processes, with RELAY_URL and RELAY_TOKEN, against a real relay process. The
 * agent's reconnect, dedupe and shutdown paths are checked against a scripted relay (a plain
 * `ws` server) that can drop connections and redeliver at will.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import WebSocket, { WebSocketServer } from 'ws';
import { backendsUnderTest } from '../support/backends';
import { TestClient, type Frame } from '../support/client';
import { startRelay, type RelayProcess } from '../support/relay-process';
import { testRegistry } from '../support/registry';
import { Child, killChildren, ROOT } from './child-process';

const ECHO_AGENT = path.join(ROOT, 'examples/echo-agent.js');
const SEND_EVENT = path.join(ROOT, 'examples/send-event.js');

/** The echo agent's answer (examples/echo-agent.js, answerFor). */
const echoOf = (message: string) => `Echo: you said "${message}". This is a fake answer from the echo agent.`;

afterEach(async () => {
  await killChildren();
});

describe.each(backendsUnderTest())('examples against a relay process ($name backend)', (backend) => {
  let relay: RelayProcess;
  const { registry, tokens } = testRegistry();
  const clients: TestClient[] = [];

  beforeAll(async () => {
    relay = await startRelay({ registry, env: await backend.env() });
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });
  afterAll(async () => {
    await killChildren();
    if (relay) expect(await relay.stop()).toBe(0);
    await backend.teardown();
  });

  const echoAgent = (env: Record<string, string> = {}) =>
    Child.node('echo-agent.js', ECHO_AGENT, { RELAY_URL: relay.url, RELAY_TOKEN: tokens.athena, ECHO_TOKEN_MS: '2', ...env });
  const sendEvent = (message: string | undefined, env: Record<string, string> = {}) =>
    Child.node('send-event.js', SEND_EVENT, { RELAY_URL: relay.url, RELAY_TOKEN: tokens.portal, ...env }, message === undefined ? [] : [message]);

  test('send-event gets accepted, the streamed answer and the reply from echo-agent, and exits 0', async () => {
    const agent = echoAgent();
    await agent.waitFor('connected to ');
    const message = 'what did we decide about mobile? 📱 ok';
    const sender = sendEvent(message);
    const exit = await sender.exit(20_000);
    expect({ exit, stderr: sender.stderr }).toEqual({ exit: { code: 0, signal: null }, stderr: '' });

    const text = echoOf(message);
    const out = sender.stdout;
    const accepted = /^accepted event_id=(evt_\S+) session_key=(\S+) queued=(\w+)$/m.exec(out);
    expect(accepted?.slice(2)).toEqual(['relay:athena:portal:task-123', 'false']);
    const eventId = accepted?.[1] as string;
    expect(out).toContain(`\nstreaming: ${text}\n`);
    // one token frame per character (code point: the emoji is one token)
    const chars = [...text].length;
    expect(out).toContain(`\nreply finish_reason=stop tokens_used=${chars} latency_ms=`);
    expect(out.endsWith(`\n${text}\n`)).toBe(true);
    expect(out.indexOf('accepted')).toBeLessThan(out.indexOf('streaming:'));
    expect(out.indexOf('streaming:')).toBeLessThan(out.indexOf('reply finish_reason'));

    // one log line for the event, naming it
    await agent.waitFor(new RegExp(`${eventId} app=portal thread=portal:task-123:comment-[0-9a-f]{8} attempt=1 replied \\(${chars} chars`));
    expect(agent.stdout.split('\n').filter((l) => l.includes(eventId))).toHaveLength(1);
    expect(agent.stderr).toBe('');
  }, 30_000);

  test('send-event defaults to "@athena summarize this discussion"', async () => {
    const agent = echoAgent();
    await agent.waitFor('connected to ');
    const sender = sendEvent(undefined);
    expect(await sender.exit(20_000)).toEqual({ code: 0, signal: null });
    expect(sender.stdout).toContain(`\nstreaming: ${echoOf('@athena summarize this discussion')}\n`);
  }, 30_000);

  test('an event sent while echo-agent is offline is reported queued and answered once it connects', async () => {
    const sender = sendEvent('queued question');
    await sender.waitFor(/^accepted event_id=evt_\S+ session_key=\S+ queued=true$/m);
    expect(sender.stdout).toContain('athena is offline');
    const agent = echoAgent();
    expect(await sender.exit(20_000)).toEqual({ code: 0, signal: null });
    expect(sender.stdout).toContain(`\nstreaming: ${echoOf('queued question')}\n`);
    await agent.waitFor(/ attempt=1 replied/);
  }, 30_000);

  test('a bad token: send-event and echo-agent exit 1 and show the HTTP 401', async () => {
    const sender = sendEvent('x', { RELAY_TOKEN: 'rlk_portal_not-a-real-token' });
    expect(await sender.exit()).toEqual({ code: 1, signal: null });
    expect(sender.stderr).toMatch(/upgrade refused: HTTP 401\b/);
    expect(sender.stdout).not.toContain('accepted');

    // an agent token is the wrong role for the app endpoint: 401 too
    const wrongRole = sendEvent('x', { RELAY_TOKEN: tokens.athena });
    expect(await wrongRole.exit()).toEqual({ code: 1, signal: null });
    expect(wrongRole.stderr).toMatch(/HTTP 401\b/);

    const agent = echoAgent({ RELAY_TOKEN: 'rla_athena_not-a-real-token' });
    expect(await agent.exit()).toEqual({ code: 1, signal: null });
    expect(agent.stderr).toMatch(/upgrade refused: HTTP 401\b/);
    expect(agent.stdout).not.toContain('reconnecting');
  });

  test('no RELAY_TOKEN: both print what to do and exit 1', async () => {
    const sender = Child.node('send-event.js', SEND_EVENT, { RELAY_URL: relay.url });
    const agent = Child.node('echo-agent.js', ECHO_AGENT, { RELAY_URL: relay.url });
    expect(await sender.exit()).toEqual({ code: 1, signal: null });
    expect(await agent.exit()).toEqual({ code: 1, signal: null });
    expect(sender.stderr).toContain('RELAY_TOKEN is not set');
    expect(agent.stderr).toContain('RELAY_TOKEN is not set');
  });

  test('an error frame (agent not allowlisted) makes send-event print the code and exit 1', async () => {
    // flow is allowlisted for athena only (test registry)
    const sender = sendEvent('x', { RELAY_TOKEN: tokens.flow, RELAY_AGENT: 'klyve' });
    expect(await sender.exit()).toEqual({ code: 1, signal: null });
    expect(sender.stderr).toMatch(/^error ALLOWLIST_DENIED: \S/m);
  });

  test('send-event gives up after RELAY_TIMEOUT_MS with exit 1', async () => {
    // klyve never connects in this suite, so the event waits in its queue
    const sender = sendEvent('x', { RELAY_AGENT: 'klyve', RELAY_TIMEOUT_MS: '700' });
    expect(await sender.exit()).toEqual({ code: 1, signal: null });
    expect(sender.stdout).toMatch(/queued=true/);
    expect(sender.stderr).toContain('timed out after 700 ms');
  });

  test('echo-agent stops streaming an event the app cancels, and never replies to it', async () => {
    const agent = echoAgent({ ECHO_TOKEN_MS: '40' });
    await agent.waitFor('connected to ');
    const app = await TestClient.connect(relay.url, 'app', tokens.portal);
    clients.push(app);
    app.send({ type: 'event', agent_id: 'athena', thread_id: 'portal:task-9:c-1', payload: { message: 'cancel me' } });
    const { event_id: eventId } = await app.nextOf('accepted');
    await app.nextOf('token', eventId);
    app.send({ type: 'cancel', event_id: eventId });
    const final = await app.next((f: Frame) => f.event_id === eventId && (f.type === 'error' || f.type === 'reply'));
    expect(final).toMatchObject({ type: 'error', code: 'CANCELLED' });
    await agent.waitFor(`${eventId} cancelled by the app: stopped streaming`);
    // the whole answer would take ~3 s; the agent must not finish it
    await new Promise((r) => setTimeout(r, 600));
    expect(agent.stdout).not.toMatch(new RegExp(`${eventId}.* replied`));
    expect(agent.running).toBe(true);
  });

  test('echo-agent exits 0 on SIGTERM and on SIGINT', async () => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const agent = echoAgent();
      await agent.waitFor('connected to ');
      agent.signal(signal);
      expect(await agent.exit(5_000)).toEqual({ code: 0, signal: null });
      expect(agent.stdout).toContain(`${signal}: closing`);
    }
  });
});

/** A stand-in relay that records what the agent sends and lets a test drive each connection. */
class ScriptedRelay {
  readonly server: WebSocketServer;
  readonly connections: { ws: WebSocket; at: number; protocol: string; auth: string | undefined; frames: Frame[] }[] = [];
  private onConnection: (index: number, ws: WebSocket) => void = () => {};

  constructor() {
    this.server = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: (offered) => (offered.has('relay-agent') ? 'relay-agent' : false) });
    this.server.on('connection', (ws, req) => {
      const conn = { ws, at: Date.now(), protocol: ws.protocol, auth: req.headers.authorization, frames: [] as Frame[] };
      this.connections.push(conn);
      ws.on('message', (data) => conn.frames.push(JSON.parse(data.toString()) as Frame));
      this.onConnection(this.connections.length - 1, ws);
    });
  }

  async url(): Promise<string> {
    if (!this.server.address()) await once(this.server, 'listening');
    return `ws://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  on(handler: (index: number, ws: WebSocket) => void): void {
    this.onConnection = handler;
  }

  async waitFor<T>(check: () => T | undefined | false, timeoutMs = 8_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = check();
      if (value) return value;
      if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms: ${JSON.stringify(this.connections.map((c) => c.frames))}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async close(): Promise<void> {
    for (const c of this.server.clients) c.terminate();
    await new Promise((r) => this.server.close(r));
  }
}

describe('echo-agent against a scripted relay', () => {
  let relay: ScriptedRelay;
  const TOKEN = 'rla_athena_scriptedsecret';
  const event = (id: string, attempt: number) => ({
    type: 'event',
    event_id: id,
    agent_id: 'athena',
    app_id: 'portal',
    thread_id: 'portal:task-1:c-1',
    session_key: 'relay:athena:portal:task-1',
    payload: { message: 'hi', nested: [1, { a: null }] },
    attempt,
    created_at: new Date().toISOString(),
  });
  const tokensOf = (frames: Frame[], id: string) => frames.filter((f) => f.type === 'token' && f.event_id === id).map((f) => f.token as string).join('');
  const repliesOf = (frames: Frame[], id: string) => frames.filter((f) => f.type === 'reply' && f.event_id === id);

  beforeEach(() => {
    relay = new ScriptedRelay();
  });
  afterEach(async () => {
    await killChildren();
    await relay.close();
  });

  // RELAY_URL with a trailing slash, as users paste it: the agent must still reach /v1/ws/agent
  const start = async (tokenMs = '2') =>
    Child.node('echo-agent.js', ECHO_AGENT, { RELAY_URL: `${await relay.url()}/`, RELAY_TOKEN: TOKEN, ECHO_TOKEN_MS: tokenMs });

  test('offers relay-agent with a Bearer token, answers JSON ping, streams then replies with the payload echoed, and dedupes a redelivery', async () => {
    const agent = await start();
    const conn = await relay.waitFor(() => relay.connections[0]);
    expect(conn.protocol).toBe('relay-agent');
    expect(conn.auth).toBe(`Bearer ${TOKEN}`);

    conn.ws.send(JSON.stringify({ type: 'ping' }));
    await relay.waitFor(() => conn.frames.some((f) => f.type === 'pong'));

    conn.ws.send(JSON.stringify(event('evt_one', 1)));
    const [reply] = await relay.waitFor(() => repliesOf(conn.frames, 'evt_one').length > 0 && repliesOf(conn.frames, 'evt_one'));
    const text = echoOf('hi');
    expect(tokensOf(conn.frames, 'evt_one')).toBe(text);
    expect(conn.frames.filter((f) => f.type === 'token').every((f) => (f.token as string).length === 1)).toBe(true);
    expect(reply).toMatchObject({ content: text, finish_reason: 'stop', payload: { message: 'hi', nested: [1, { a: null }] } });

    // A redelivery of the answered event: no second stream, no second answer; the same reply again.
    const before = conn.frames.length;
    conn.ws.send(JSON.stringify(event('evt_one', 2)));
    await agent.waitFor('evt_one app=portal thread=portal:task-1:c-1 attempt=2 duplicate');
    await relay.waitFor(() => conn.frames.length > before);
    await new Promise((r) => setTimeout(r, 200));
    expect(conn.frames.slice(before)).toEqual([reply]);
  });

  test('reconnects with backoff 1 s, 2 s after closes with 1001 and 1013, and answers the redelivered event on the new connection', async () => {
    relay.on((index, ws) => {
      if (index === 0) ws.send(JSON.stringify(event('evt_cut', 1)));
      if (index === 1) ws.close(1013, 'overloaded');
      if (index === 2) ws.send(JSON.stringify(event('evt_cut', 2)));
    });
    const agent = await start('20'); // ~1.4 s per answer: long enough to cut it in the middle
    const first = await relay.waitFor(() => relay.connections[0]);
    // the connection drops mid-answer: the node is shutting down
    await relay.waitFor(() => first.frames.some((f) => f.type === 'token'));
    const closedAt = Date.now();
    first.ws.close(1001, 'Node shutting down');

    const third = await relay.waitFor(() => relay.connections[2], 10_000);
    const second = relay.connections[1]!;
    expect(second.protocol).toBe('relay-agent');
    const gap1 = second.at - closedAt;
    const gap2 = third.at - second.at;
    expect(gap1).toBeGreaterThanOrEqual(950);
    expect(gap1).toBeLessThan(1_900);
    expect(gap2).toBeGreaterThanOrEqual(1_950);
    expect(gap2).toBeLessThan(3_500);
    expect(agent.stdout).toMatch(/disconnected \(1001 Node shutting down\); reconnecting in 1 s/);
    expect(agent.stdout).toMatch(/disconnected \(1013 overloaded\); reconnecting in 2 s/);

    // the interrupted event, redelivered, is answered in full on the new connection, once
    const [reply] = await relay.waitFor(() => repliesOf(third.frames, 'evt_cut').length > 0 && repliesOf(third.frames, 'evt_cut'));
    expect(tokensOf(third.frames, 'evt_cut')).toBe(echoOf('hi'));
    expect(reply).toMatchObject({ content: echoOf('hi'), finish_reason: 'stop' });
    expect(repliesOf(first.frames, 'evt_cut')).toEqual([]);

    // and it leaves cleanly: a 1000 close, exit 0
    const closed = once(third.ws, 'close');
    agent.signal('SIGTERM');
    expect(await agent.exit(5_000)).toEqual({ code: 0, signal: null });
    const [code] = (await closed) as [number, Buffer];
    expect(code).toBe(1000);
  }, 20_000);

  test('backoff doubles (1 s, 2 s, 4 s) while the relay is unreachable', async () => {
    // Nothing listens on this port: count the reported delays without waiting for them all.
    const url = await relay.url();
    await relay.close();
    const agent = Child.node('echo-agent.js', ECHO_AGENT, { RELAY_URL: url, RELAY_TOKEN: TOKEN });
    await agent.waitFor('reconnecting in 4 s', 10_000);
    expect([...agent.stdout.matchAll(/reconnecting in (\d+) s/g)].map((m) => Number(m[1]))).toEqual([1, 2, 4]);
    relay = new ScriptedRelay(); // for afterEach
  }, 15_000);
});
