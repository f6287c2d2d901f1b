import { ADMIN_TOKEN, adminApi } from '../support/admin';
import { backendsUnderTest } from '../support/backends';
import { eventFrame, type Frame, type TestClient } from '../support/client';
import { answers, refusedPort, startHttpAgentServer, webhookSecret, type Answer, type HttpAgentServer, type WebhookCall } from '../support/http-agent-server';
import { send, sleep, waitFor } from '../support/lifecycle';
import { useRelay } from '../support/relay-fixture';

// Agents over HTTP (PROTOCOL.md "Agents over HTTP"): athena has a webhook served by a real local
// HTTP server. Each test's events carry a `mode` in their payload that says how that server
// answers each attempt: every answer style of the contract, and every way a delivery fails,
// which must end in a redelivery (attempt + 1) and exactly one final for the app.

const secret = webhookSecret();
const klyveSecret = webhookSecret();
let agent: HttpAgentServer;
let klyvePort: number;

/** How the agent answers each mode, by attempt (the last entry for later attempts). */
const modes: Record<string, Answer[]> = {};
const later: Record<string, (call: WebhookCall) => void> = {};

beforeAll(async () => {
  agent = await startHttpAgentServer(secret);
  agent.answer((call, res) => {
    if (call.frame.type === 'cancel') return void res.writeHead(204).end();
    const mode = call.frame.payload?.mode as string;
    const script = modes[mode];
    if (!script) return void res.writeHead(500).end();
    const answer = script[Math.min(call.frame.attempt - 1, script.length - 1)] as Answer;
    return answer(call, res);
  });
  klyvePort = await refusedPort();
});
afterAll(() => agent.close());

const hold: Answer = () => {}; // never answers: the relay's request timeout ends it
const brokenStream: Answer = (_call, res) => {
  res.writeHead(200, { 'content-type': 'application/x-ndjson' });
  res.write(`${JSON.stringify({ type: 'token', token: 'lost' })}\n`);
  setTimeout(() => res.destroy(), 20);
};
const accepted202 = (name: string): Answer => (call, res) => {
  res.writeHead(202).end();
  later[name]?.(call);
};

modes.json = [answers.json('a whole answer')];
modes.ndjson = [answers.ndjson(['str', 'eam', 'ed'], 30)];
modes.later = [accepted202('later')];
modes.fail500 = [answers.status(500), answers.json('after a 500')];
modes.timeout = [hold, answers.json('after a timeout')];
modes.broken = [brokenStream, answers.json('after a broken stream')];
modes.noreply = [answers.ndjson(['no', 'reply'], 0, false), answers.ndjson(['with', 'reply'])];
modes.badline = [(_c, res) => void res.writeHead(200, { 'content-type': 'application/x-ndjson' }).end('not json\n'), answers.json('after a bad line')];
modes.redirect = [(_c, res) => void res.writeHead(302, { location: 'http://127.0.0.1:1/' }).end(), answers.json('after a redirect')];
modes.silent = [answers.ndjson(['then', 'silence'], 3_000)];
modes.order = [accepted202('order')];
modes.cancel = [accepted202('cancel')];

const callsFor = (eventId: string) => agent.calls.filter((c) => c.frame.event_id === eventId && c.frame.type === 'event');

describe.each(backendsUnderTest())('agents over HTTP ($name backend)', (backend) => {
  const r = useRelay(backend, {
    // a function: the agents' servers listen (beforeAll above) before the relay starts
    registry: () => ({
      agents: {
        athena: { webhook_url: agent.url, webhook_secret: secret, max_in_flight: 4 },
        klyve: { webhook_url: `http://127.0.0.1:${klyvePort}/hook`, webhook_secret: klyveSecret },
      },
    }),
    env: {
      RELAY_NODE_TTL_MS: '1500',
      RELAY_AGENT_WEBHOOK_TIMEOUT_MS: '500',
      RELAY_AGENT_WEBHOOK_BACKOFF_MS: '100',
      RELAY_REPLY_TIMEOUT_MS: '2000',
      RELAY_ADMIN_TOKEN: ADMIN_TOKEN,
    },
  });

  /** POSTs to the relay's agent HTTP API as athena (or with the token given). */
  const post = async (eventId: string, kind: 'tokens' | 'reply', body: unknown, token = r.tokens.athena) => {
    const res = await fetch(`${r.relay.httpUrl}/v1/agent/events/${eventId}/${kind}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Frame };
  };

  const sendMode = async (app: TestClient, mode: string, thread = `portal:${mode}:${Math.random().toString(36).slice(2)}`) => {
    const answer = await send(app, eventFrame({ thread_id: thread, payload: { mode } }));
    expect(answer.type).toBe('accepted');
    return answer.event_id as string;
  };

  test('a JSON answer is the reply; the event was POSTed signed, as the agent event frame', async () => {
    const app = await r.connect('portal');
    const id = await sendMode(app, 'json');
    const reply = await app.nextOf('reply', id);
    expect(reply).toMatchObject({ content: 'a whole answer', finish_reason: 'stop', agent_id: 'athena' });
    const [call] = callsFor(id);
    expect(call?.frame).toMatchObject({ type: 'event', event_id: id, app_id: 'portal', attempt: 1, payload: { mode: 'json' } });
    expect(call?.headers['webhook-id']).toBe(`${id}.1`);
    expect(agent.unsigned).toBe(0);
  });

  test('NDJSON tokens reach the app live and are recorded for resume, then the reply line ends the event', async () => {
    const app = await r.connect('portal');
    const id = await sendMode(app, 'ndjson');
    const tokens = [await app.nextOf('token', id), await app.nextOf('token', id), await app.nextOf('token', id)];
    expect(tokens.map((t) => [t.token, t.seq, t.attempt])).toEqual([['str', 0, 1], ['eam', 1, 1], ['ed', 2, 1]]);
    expect((await app.nextOf('reply', id)).content).toBe('streamed');
    // a resume from the start, on another connection, replays the recorded stream, then the final
    const again = await r.connect('portal');
    again.send({ type: 'resume', event_id: id, after_seq: -1 });
    expect(await again.nextOf('resumed', id)).toMatchObject({ attempt: 1, from_seq: 0 });
    const replayed = [await again.nextOf('token', id), await again.nextOf('token', id), await again.nextOf('token', id)];
    expect(replayed.map((t) => t.token)).toEqual(['str', 'eam', 'ed']);
    expect((await again.nextOf('reply', id)).content).toBe('streamed');
  });

  test('a 202 answer: the agent POSTs its tokens and reply later with its rla_ token; anything after is UNKNOWN_EVENT', async () => {
    const app = await r.connect('portal');
    const posted = new Promise<string>((resolve) => (later.later = (call) => resolve(call.frame.event_id as string)));
    const id = await sendMode(app, 'later');
    expect(await posted).toBe(id);
    // wrong role, bad body: refused without touching the event
    expect((await post(id, 'tokens', { tokens: ['x'] }, r.tokens.portal)).status).toBe(401);
    expect(await post(id, 'tokens', { tokens: 'x' })).toMatchObject({ status: 400, body: { code: 'INVALID_MESSAGE' } });
    expect((await post(id, 'tokens', { tokens: ['la', 'ter'] })).status).toBe(202);
    expect((await post(id, 'reply', { content: 'later answer', finish_reason: 'stop' })).status).toBe(202);
    expect((await app.nextOf('token', id)).token).toBe('la');
    expect((await app.nextOf('token', id)).token).toBe('ter');
    expect((await app.nextOf('reply', id)).content).toBe('later answer');
    expect(await post(id, 'reply', { content: 'twice', finish_reason: 'stop' })).toMatchObject({ status: 404, body: { code: 'UNKNOWN_EVENT' } });
    expect((await post('evt_0nosuchevent', 'tokens', { tokens: ['x'] })).status).toBe(404);
    expect((await app.quiet(200)).filter((f) => f.event_id === id)).toEqual([]);
  });

  test.each([
    ['fail500', 'after a 500'],
    ['timeout', 'after a timeout'],
    ['broken', 'after a broken stream'],
    ['badline', 'after a bad line'],
    ['redirect', 'after a redirect'],
  ])('a failed delivery (%s) is redelivered with attempt 2; the app gets one final', async (mode, content) => {
    const app = await r.connect('portal');
    const id = await sendMode(app, mode);
    expect((await app.nextOf('reply', id, 10_000)).content).toBe(content);
    expect(callsFor(id).map((c) => c.frame.attempt)).toEqual([1, 2]);
    expect(callsFor(id).map((c) => c.headers['webhook-id'])).toEqual([`${id}.1`, `${id}.2`]);
    expect((await app.quiet(300)).filter((f) => f.event_id === id && (f.type === 'reply' || f.type === 'error'))).toEqual([]);
  });

  test('a stream that ends without a reply line is a failed delivery; the app discards its attempt by the attempt number', async () => {
    const app = await r.connect('portal');
    const id = await sendMode(app, 'noreply');
    const reply = await app.nextOf('reply', id, 10_000);
    expect(reply.content).toBe('withreply');
    const tokens = app.frames.filter((f) => f.type === 'token' && f.event_id === id).map((f) => [f.token, f.seq, f.attempt]);
    expect(tokens).toEqual([['no', 0, 1], ['reply', 1, 1], ['with', 0, 2], ['reply', 1, 2]]);
  });

  test('the silence timeout applies between NDJSON lines: AGENT_TIMEOUT', async () => {
    const app = await r.connect('portal');
    const id = await sendMode(app, 'silent');
    expect((await app.nextOf('token', id)).token).toBe('then');
    expect(await app.nextOf('error', id, 10_000)).toMatchObject({ code: 'AGENT_TIMEOUT' });
    expect(callsFor(id)).toHaveLength(1);
  });

  test("session order: a session's next event is POSTed only after the previous one's reply", async () => {
    const app = await r.connect('portal');
    const seen: string[] = [];
    later.order = (call) => seen.push(call.frame.event_id as string);
    const thread = `portal:order:${Math.random().toString(36).slice(2)}`;
    const first = await sendMode(app, 'order', thread);
    const second = await sendMode(app, 'order', thread);
    await waitFor('the first POST', () => seen.length === 1);
    await sleep(400); // the agent has room for four: only the session rule holds the second back
    expect(seen).toEqual([first]);
    expect((await post(first, 'reply', { content: 'one', finish_reason: 'stop' })).status).toBe(202);
    await waitFor('the second POST', () => seen.length === 2);
    expect(seen).toEqual([first, second]);
    expect((await post(second, 'reply', { content: 'two', finish_reason: 'stop' })).status).toBe(202);
    expect((await app.nextOf('reply', first)).content).toBe('one');
    expect((await app.nextOf('reply', second)).content).toBe('two');
  });

  test('a cancel of a 202 event POSTs a signed cancel to the webhook; the later reply is UNKNOWN_EVENT', async () => {
    const app = await r.connect('portal');
    const posted = new Promise<void>((resolve) => (later.cancel = () => resolve()));
    const id = await sendMode(app, 'cancel');
    await posted;
    app.send({ type: 'cancel', event_id: id });
    expect(await app.nextOf('error', id)).toMatchObject({ code: 'CANCELLED' });
    await waitFor('the cancel at the webhook', () => agent.calls.some((c) => c.frame.type === 'cancel' && c.frame.event_id === id));
    expect(agent.calls.find((c) => c.frame.type === 'cancel' && c.frame.event_id === id)?.headers['webhook-id']).toBe(`${id}.cancel`);
    expect(await post(id, 'reply', { content: 'too late', finish_reason: 'stop' })).toMatchObject({ status: 404, body: { code: 'UNKNOWN_EVENT' } });
  });

  test('connection refused is a failed delivery: redelivered once the agent listens', async () => {
    const app = await r.connect('portal');
    const answer = await send(app, eventFrame({ agent_id: 'klyve', thread_id: 'portal:refused:1', payload: {} }));
    expect(answer.type).toBe('accepted');
    const id = answer.event_id as string;
    await sleep(500); // a few refused attempts
    const klyve = await startHttpAgentServer(klyveSecret, klyvePort);
    try {
      klyve.answer(answers.json('finally'));
      expect((await app.nextOf('reply', id, 15_000)).content).toBe('finally');
      expect(klyve.calls[0]?.frame.attempt).toBeGreaterThan(1);
      expect(klyve.calls).toHaveLength(1);
    } finally {
      await klyve.close();
    }
  });

  test('an event whose webhook keeps failing ends EVENT_EXPIRED at its TTL, once', async () => {
    const app = await r.connect('portal');
    const answer = await send(app, eventFrame({ agent_id: 'klyve', thread_id: 'portal:refused:ttl', payload: {}, ttl_ms: 1_000 }));
    expect(answer.type).toBe('accepted');
    expect(await app.nextOf('error', answer.event_id as string, 10_000)).toMatchObject({ code: 'EVENT_EXPIRED' });
    expect((await app.quiet(300)).filter((f) => f.event_id === answer.event_id)).toEqual([]);
  });

  test("the admin API shows the agent as http while no socket of it is attached; its webhook is one connection, token_id webhook", async () => {
    const api = adminApi(r.relay.httpUrl);
    const view = await api('GET', '/v1/admin/agents/athena');
    expect(view.body).toMatchObject({ status: 'http', connections: 0, webhook_url: agent.url });
    const listed = await api('GET', '/v1/admin/connections?role=agent&id=athena');
    expect(listed.body.connections.map((c: Frame) => c.token_id)).toEqual(['webhook']);
  });

  test('sockets first: while a socket of the agent is attached its events go there, then back to the webhook', async () => {
    const app = await r.connect('portal');
    const socket = await r.connect('athena');
    /** Sends one event and sees it answered: by the socket (which answers what it gets) or the webhook. */
    const deliverOne = async () => {
      const id = await sendMode(app, 'json');
      let bySocket = false;
      await waitFor(
        'its reply',
        () => {
          if (!bySocket && socket.frames.some((f) => f.type === 'event' && f.event_id === id)) {
            bySocket = true;
            socket.send({ type: 'reply', event_id: id, content: 'from the socket', finish_reason: 'stop' });
          }
          return app.frames.some((f) => f.type === 'reply' && f.event_id === id);
        },
        10_000,
      );
      return bySocket && callsFor(id).length === 0 ? 'socket' : 'webhook';
    };
    // The webhook's holder lets it go within a third of RELAY_NODE_TTL_MS of the socket attaching;
    // until then new sessions alternate between the two (both idle), or an event POSTed just as it
    // is let go goes to the socket again. Three in a row at the socket: it has let go.
    for (let inARow = 0; inARow < 3; ) inARow = (await deliverOne()) === 'socket' ? inARow + 1 : 0;
    const before = agent.calls.length;
    expect([await deliverOne(), await deliverOne()]).toEqual(['socket', 'socket']);
    expect(agent.calls.length).toBe(before);
    await socket.close();
    const back = await sendMode(app, 'json');
    expect((await app.nextOf('reply', back, 10_000)).content).toBe('a whole answer');
  });
});
