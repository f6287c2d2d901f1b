import WebSocket from 'ws';
import { AgentOutboundFrame, AppOutboundFrame, type Role } from '@relay/protocol';
import { backendsUnderTest } from '../support/backends';
import { eventFrame, type Frame, type TestClient } from '../support/client';
import { finalsFor, recordFrames, send, sleep } from '../support/lifecycle';
import { useRelay } from '../support/relay-fixture';
import type { RelayProcess } from '../support/relay-process';

// PROTOCOL.md: the relay keeps sockets alive with WebSocket protocol pings, which every client
// library answers on its own. Two ways to get that wrong pass every other suite: pings off (a
// healthy client that has nothing to say is dropped at the idle timeout) and an idle timeout
// that never fires (a half-open agent socket stays "online" forever, holding events that are
// never redelivered). These tests pin both, with `ws` clients whose ping handling they control.
//
// uWS pings a socket silent for part of the idle timeout and closes it if nothing (no pong, no
// frame) comes back by the end; its timers tick every 4 s. So every bound here is a generous
// multiple of the timeout, and nothing asserts how soon within it.

const IDLE_TIMEOUT_S = 8;
const IDLE_MS = IDLE_TIMEOUT_S * 1000;

/** A bare `ws` client: records frames (schema-checked) and protocol pings; answers pings unless `autoPong` is false. */
interface RawClient {
  readonly ws: WebSocket;
  readonly frames: Frame[];
  readonly invalid: unknown[];
  pings: number;
  readonly closed: Promise<{ code: number }>;
  /** The socket error that preceded the close, if any (a reset when the relay drops it). */
  error?: Error;
}

async function rawConnect(relay: RelayProcess, role: Role, token: string, autoPong: boolean): Promise<RawClient> {
  const path = role === 'app' ? '/v1/ws/app' : '/v1/ws/agent';
  const ws = new WebSocket(`${relay.url}${path}?token=${encodeURIComponent(token)}`, { autoPong });
  const schema = role === 'app' ? AppOutboundFrame : AgentOutboundFrame;
  const client: RawClient = {
    ws,
    frames: [],
    invalid: [],
    pings: 0,
    closed: new Promise((resolve) => ws.once('close', (code) => resolve({ code }))),
  };
  ws.on('message', (data) => {
    const frame = JSON.parse(data.toString()) as Frame;
    if (!schema.safeParse(frame).success) client.invalid.push(frame);
    client.frames.push(frame);
  });
  ws.on('ping', () => client.pings++);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  // Once open, an error (a reset when the relay drops a socket that does not answer) is
  // followed by 'close', which is what the tests look at.
  ws.on('error', (err) => (client.error = err));
  return client;
}

async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** `promise`'s value, or undefined if it takes longer than `ms` (the timer does not outlive it). */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let expire: () => void = () => undefined;
  const timeout = new Promise<undefined>((resolve) => (expire = () => resolve(undefined)));
  const timer = setTimeout(expire, ms);
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function athenaStatus(app: TestClient): Promise<string> {
  const ref = `discover-${Math.random().toString(36).slice(2)}`;
  app.send({ type: 'discover', ref });
  const agents = await app.next((f) => f.type === 'agents' && f.ref === ref);
  return (agents.agents as Frame[]).find((a) => a.id === 'athena')?.status as string;
}

describe.each(backendsUnderTest({ singleNode: true }))('WebSocket liveness ($name backend)', (backend) => {
  const r = useRelay(backend, { perTest: true, env: { RELAY_IDLE_TIMEOUT_S: String(IDLE_TIMEOUT_S) } });
  const rawClients: RawClient[] = [];

  afterEach(async () => {
    const raw = rawClients.splice(0);
    for (const c of raw) if (c.ws.readyState === WebSocket.OPEN) c.ws.close(1000);
    await Promise.all(raw.map((c) => c.closed));
    expect(raw.flatMap((c) => c.invalid)).toEqual([]);
  });

  const raw = async (role: Role, principal: 'portal' | 'athena', autoPong: boolean) => {
    const client = await rawConnect(r.relay, role, r.tokens[principal], autoPong);
    rawClients.push(client);
    return client;
  };

  test(
    'a client that answers protocol pings but sends nothing for twice the idle timeout stays open and usable',
    async () => {
      const silentApp = await raw('app', 'portal', true);
      const silentAgent = await raw('agent', 'athena', true);
      let closedEarly: number | undefined;
      void Promise.race([silentApp.closed, silentAgent.closed]).then(({ code }) => (closedEarly = code));

      await sleep(2 * IDLE_MS + 2_000);

      expect(closedEarly).toBeUndefined();
      expect(silentApp.ws.readyState).toBe(WebSocket.OPEN);
      expect(silentAgent.ws.readyState).toBe(WebSocket.OPEN);
      // Kept open by protocol pings, not by luck: both were pinged.
      expect(silentApp.pings).toBeGreaterThanOrEqual(1);
      expect(silentAgent.pings).toBeGreaterThanOrEqual(1);
      // Protocol pings alone kept them: the relay sent them no JSON frame.
      expect(silentApp.frames).toEqual([]);
      expect(silentAgent.frames).toEqual([]);

      // Both still work, and the silent agent is still online.
      for (const client of [silentApp, silentAgent]) {
        client.ws.send(JSON.stringify({ type: 'ping', ref: 'after-silence' }));
        const pong = await waitFor('a JSON pong', () => client.frames.find((f) => f.type === 'pong'), 5_000);
        expect(pong).toMatchObject({ type: 'pong', ref: 'after-silence' });
      }
      expect(await athenaStatus(await r.connect('portal'))).toBe('online');
    },
    2 * IDLE_MS + 40_000,
  );

  test(
    'an agent socket that stops answering pings is closed; its event goes to the next connection with attempt 2',
    async () => {
      const deaf = await raw('agent', 'athena', false);
      const portal = await r.connect('portal');
      const appFrames = recordFrames(portal);
      expect(await athenaStatus(portal)).toBe('online');

      const accepted = await send(portal, eventFrame({ payload: { ask: 'liveness' } }));
      expect(accepted).toMatchObject({ type: 'accepted', queued: false });
      const first = await waitFor('the event at the deaf agent', () => deaf.frames.find((f) => f.type === 'event'), 10_000);
      expect(first).toMatchObject({ event_id: accepted.event_id, attempt: 1 });

      // The agent now says nothing and answers no ping, like a peer whose network vanished with
      // its TCP connection still looking open. The relay must notice on its own.
      const closed = await within(deaf.closed, 4 * IDLE_MS);
      expect(closed).toBeDefined();
      expect(deaf.pings).toBeGreaterThanOrEqual(1); // it was asked first

      await waitFor('athena offline', async () => ((await athenaStatus(portal)) === 'offline' ? true : undefined), 10_000);

      const next = await r.connect('athena');
      const again = await next.nextOf('event', accepted.event_id, 10_000);
      expect(again).toMatchObject({ attempt: 2, payload: { ask: 'liveness' }, thread_id: first.thread_id });
      next.send({ type: 'reply', event_id: accepted.event_id, content: 'still here', finish_reason: 'stop' });

      const reply = await portal.nextOf('reply', accepted.event_id, 10_000);
      expect(reply).toMatchObject({ content: 'still here', finish_reason: 'stop', payload: { ask: 'liveness' } });
      await sleep(1_500);
      expect(finalsFor(appFrames, accepted.event_id as string)).toHaveLength(1);
    },
    4 * IDLE_MS + 60_000,
  );
});
