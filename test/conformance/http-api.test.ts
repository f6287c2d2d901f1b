import { AcceptedFrame, AgentsFrame, AppReplyFrame, AppTokenFrame, ErrorFrame, EventStatus } from '@relay/protocol';
import { backendsUnderTest } from '../support/backends';
import { eventFrame, type Frame, type TestClient } from '../support/client';
import { api, SseClient } from '../support/http-api';
import { useRelay, type RelayFixture } from '../support/relay-fixture';
import { captureRaw, eventually, metricSum, payloadTextIn, rawContaining, scrape } from '../support/wire-probe';

// The HTTP API for apps (PROTOCOL.md, "HTTP API"): every route and status of the table, the SSE
// format and its resume, on every backend. With three nodes behind the balancer each request
// opens its own connection, so a stream is served by another node than the send, and a resume
// by another again.

const REGISTRY = {
  apps: { flow: { rate_limit_per_min: 1, hard_rate_limit_per_min: 1 } },
  agents: { klyve: { max_queue: 1 } },
};

function http(r: RelayFixture) {
  return {
    send: (body: unknown, token = r.tokens.portal, headers: Record<string, string> = {}) =>
      api(r.relay.httpUrl, 'POST', '/v1/events', { token, body, headers }),
    status: (id: string, token = r.tokens.portal) => api(r.relay.httpUrl, 'GET', `/v1/events/${id}`, { token }),
    cancel: (id: string, token = r.tokens.portal) => api(r.relay.httpUrl, 'POST', `/v1/events/${id}/cancel`, { token }),
    agents: (token = r.tokens.portal) => api(r.relay.httpUrl, 'GET', '/v1/agents', { token }),
    stream: (id: string, headers: Record<string, string> = {}, query = '', token = r.tokens.portal) =>
      new SseClient(r.relay.httpUrl, 'GET', `/v1/events/${id}/stream${query}`, { token, headers }),
    sendStreaming: (body: unknown, token = r.tokens.portal) =>
      new SseClient(r.relay.httpUrl, 'POST', '/v1/events', { token, body }),
  };
}

/** An event sent over HTTP and taken by a connected athena. */
async function sentAndDelivered(r: RelayFixture, agent: TestClient): Promise<string> {
  const answer = await http(r).send(eventFrame({ type: undefined }));
  expect(answer.status).toBe(202);
  const id = answer.json.event_id as string;
  await agent.nextOf('event', id);
  return id;
}

describe.each(backendsUnderTest())('HTTP API for apps ($name backend)', (backend) => {
  // a node per test: each starts with empty queues, whatever the last left unanswered
  const r = useRelay(backend, { perTest: true, registry: REGISTRY, env: { RELAY_SSE_KEEPALIVE_MS: '200' } });

  test('POST /v1/events: 202 and the accepted frame, once recorded; the agent gets the payload byte for byte', async () => {
    const agent = await r.connect('athena');
    const raws = captureRaw(agent);
    const body = '{"agent_id":"athena","thread_id":"portal:task-1:c-1","payload":{"b": 1.50, "a":[1,2]}}';
    const answer = await http(r).send(body);
    expect(answer.status).toBe(202);
    expect(answer.headers['content-type']).toMatch(/^application\/json/);
    const accepted = AcceptedFrame.parse(answer.json);
    expect(accepted).toMatchObject({ agent_id: 'athena', thread_id: 'portal:task-1:c-1', session_key: 'relay:athena:portal:task-1', queued: false });
    const raw = await rawContaining(raws, accepted.event_id);
    expect(payloadTextIn(raw, '{"b": 1.50, "a":[1,2]}')).toBe('{"b": 1.50, "a":[1,2]}');
  });

  test('the Idempotency-Key header is the idempotency_key field: a resend answers the first event', async () => {
    const key = `k-${Date.now()}-${Math.random()}`;
    const first = await http(r).send(eventFrame({ type: undefined }), r.tokens.portal, { 'idempotency-key': key });
    const again = await http(r).send(eventFrame({ type: undefined }), r.tokens.portal, { 'idempotency-key': key });
    expect(first.status).toBe(202);
    expect(again.status).toBe(202);
    expect(again.json.event_id).toBe(first.json.event_id);
    const byField = await http(r).send(eventFrame({ type: undefined, idempotency_key: key }));
    expect(byField.json.event_id).toBe(first.json.event_id);
  });

  test('bad input: 400 INVALID_JSON / INVALID_MESSAGE with details, 404 AGENT_NOT_FOUND, 403 ALLOWLIST_DENIED, 413 PAYLOAD_TOO_LARGE', async () => {
    const cases: Array<[unknown, number, string, string?]> = [
      ['{not json', 400, 'INVALID_JSON'],
      ['[1,2]', 400, 'INVALID_MESSAGE'],
      [{ thread_id: 't', payload: {} }, 400, 'INVALID_MESSAGE'],
      [{ agent_id: 'nobody', thread_id: 't', payload: {} }, 404, 'AGENT_NOT_FOUND'],
      [{ agent_id: 'athena', thread_id: 't', payload: 'x'.repeat(64_001) }, 413, 'PAYLOAD_TOO_LARGE'],
      // a body cannot turn itself into another frame
      [{ type: 'cancel', event_id: 'evt_1', agent_id: 'athena', thread_id: 't', payload: 1 }, 202, ''],
    ];
    for (const [body, status, code] of cases) {
      const answer = await http(r).send(body);
      expect([body, answer.status]).toEqual([body, status]);
      if (status !== 202) expect(ErrorFrame.parse(answer.json)).toMatchObject({ code });
    }
    const missingAgent = await http(r).send({ thread_id: 't', payload: {} });
    expect(missingAgent.json.details).toEqual(expect.arrayContaining([expect.objectContaining({ path: 'agent_id' })]));
    const denied = await http(r).send(eventFrame({ type: undefined }), r.tokens.academy);
    expect([denied.status, denied.json.code]).toEqual([403, 'ALLOWLIST_DENIED']);
  });

  test('a body over the frame limit is 413, with a length or chunked', async () => {
    const answer = await http(r).send(JSON.stringify({ agent_id: 'athena', thread_id: 't', payload: 'y'.repeat(200_000) }));
    expect(answer.status).toBe(413);
    expect(ErrorFrame.parse(answer.json).code).toBe('PAYLOAD_TOO_LARGE');
    const chunked = await http(r).send(JSON.stringify({ agent_id: 'athena', thread_id: 't', payload: 'y'.repeat(200_000) }), r.tokens.portal, {
      'transfer-encoding': 'chunked',
    });
    expect([chunked.status, chunked.json.code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
  });

  test('401 for a missing, unknown or agent (wrong-role) token, on every route', async () => {
    const routes: Array<[string, string]> = [
      ['POST', '/v1/events'],
      ['GET', '/v1/events/evt_01ABC'],
      ['GET', '/v1/events/evt_01ABC/stream'],
      ['POST', '/v1/events/evt_01ABC/cancel'],
      ['GET', '/v1/agents'],
    ];
    for (const [method, path] of routes) {
      for (const token of [undefined, 'rlk_portal_nope', r.tokens.athena]) {
        const answer = await api(r.relay.httpUrl, method, path, { token, body: method === 'POST' ? eventFrame({ type: undefined }) : undefined });
        expect([method, path, answer.status]).toEqual([method, path, 401]);
        expect(answer.headers['www-authenticate']).toBe('Bearer');
      }
    }
  });

  test('429 with Retry-After: QUEUE_FULL, and RATE_LIMITED counted with the socket path', async () => {
    // klyve never connects and queues one event at most
    const first = await http(r).send(eventFrame({ type: undefined, agent_id: 'klyve' }));
    expect(first.json).toMatchObject({ type: 'accepted', queued: true });
    const full = await http(r).send(eventFrame({ type: undefined, agent_id: 'klyve' }));
    expect([full.status, full.json.code, full.headers['retry-after']]).toEqual([429, 'QUEUE_FULL', '1']);

    // flow may send one event a minute, by socket or HTTP alike
    const flow = await r.connect('flow');
    flow.send(eventFrame({ thread_id: 'flow:rate' }));
    await flow.nextOf('accepted');
    const limited = await http(r).send(eventFrame({ type: undefined, thread_id: 'flow:rate' }), r.tokens.flow);
    expect([limited.status, limited.json.code, limited.headers['retry-after']]).toEqual([429, 'RATE_LIMITED', '1']);
  });

  test('GET /v1/events/:id: queued, delivered, finished with the final; another app gets the same 404 as an unknown id', async () => {
    const queued = await http(r).send(eventFrame({ type: undefined, thread_id: 'portal:status' }));
    const id = queued.json.event_id as string;
    const before = EventStatus.parse((await http(r).status(id)).json);
    expect(before).toMatchObject({ event_id: id, agent_id: 'athena', thread_id: 'portal:status', session_key: 'relay:athena:portal:status', final: null });
    expect(before.state).toBe('queued');
    expect(before.attempt).toBe(0);

    const agent = await r.connect('athena');
    await agent.nextOf('event', id);
    expect(await eventually(async () => (await http(r).status(id)).json.state, 'delivered')).toBe('delivered');
    expect((await http(r).status(id)).json.attempt).toBe(1);
    agent.send({ type: 'reply', event_id: id, content: 'done', finish_reason: 'stop' });
    const finished = await eventually(async () => (await http(r).status(id)).json.state, 'finished');
    expect(finished).toBe('finished');
    const status = EventStatus.parse((await http(r).status(id)).json);
    expect(AppReplyFrame.parse(status.final)).toMatchObject({ event_id: id, content: 'done', reply: 'done' });

    const foreign = await http(r).status(id, r.tokens.flow);
    const unknown = await http(r).status('evt_01UNKNOWNEVENTIDXX', r.tokens.flow);
    expect(foreign.status).toBe(404);
    expect(foreign.body).toBe(unknown.body);
    expect(ErrorFrame.parse(foreign.json).code).toBe('UNKNOWN_EVENT');
  });

  test('GET /v1/events/:id: an attempt that ended without a token still counts while the event waits again, and the next one too', async () => {
    const sent = await http(r).send(eventFrame({ type: undefined, thread_id: 'portal:again' }));
    const id = sent.json.event_id as string;
    const first = await r.connect('athena');
    await first.nextOf('event', id);
    expect(await eventually(async () => (await http(r).status(id)).json.attempt, 1)).toBe(1);
    await first.close(); // lost before its first token: the event waits again
    expect(await eventually(async () => (await http(r).status(id)).json.state, 'queued')).toBe('queued');
    expect((await http(r).status(id)).json.attempt).toBe(1);
    const second = await r.connect('athena');
    expect(await second.nextOf('event', id)).toMatchObject({ attempt: 2 });
    expect(await eventually(async () => (await http(r).status(id)).json.attempt, 2)).toBe(2);
    second.send({ type: 'reply', event_id: id, content: 'done', finish_reason: 'stop' });
    expect(await eventually(async () => (await http(r).status(id)).json.state, 'finished')).toBe('finished');
    expect((await http(r).status(id)).json.attempt).toBe(2);
    await second.close();
  });

  test('POST /v1/events/:id/cancel: 202 {}, then the final CANCELLED; 404 for an unknown or another app\'s event', async () => {
    const sent = await http(r).send(eventFrame({ type: undefined, agent_id: 'athena', thread_id: 'portal:cancel', ttl_ms: 600_000 }));
    const id = sent.json.event_id as string;
    const app = await r.connect('portal');
    const foreign = await http(r).cancel(id, r.tokens.flow);
    expect([foreign.status, foreign.json.code]).toEqual([404, 'UNKNOWN_EVENT']);
    const cancelled = await http(r).cancel(id);
    expect([cancelled.status, cancelled.json]).toEqual([202, {}]);
    // the final goes on every channel as usual: the app's socket (or the outbox it empties)
    expect(await app.nextOf('error', id)).toMatchObject({ code: 'CANCELLED' });
    expect((await http(r).status(id)).json.final).toMatchObject({ type: 'error', code: 'CANCELLED', event_id: id });
    const again = await http(r).cancel(id);
    expect([again.status, again.json.code]).toEqual([404, 'UNKNOWN_EVENT']);
  });

  test('GET /v1/agents: the agents frame', async () => {
    const answer = await http(r).agents();
    expect(answer.status).toBe(200);
    const frame = AgentsFrame.parse(answer.json);
    expect(frame.agents.map((a) => a.id).sort()).toEqual(['athena', 'klyve']);
    const none = await http(r).agents(r.tokens.academy);
    expect(none.json).toEqual({ type: 'agents', agents: [] });
  });

  test('POST /v1/events with Accept: text/event-stream sends and streams: accepted, tokens with ids, reply, end', async () => {
    const agent = await r.connect('athena');
    const sse = http(r).sendStreaming(eventFrame({ type: undefined, thread_id: 'portal:sse' }));
    const accepted = await sse.nextOf('accepted');
    expect(sse.status).toBe(200);
    expect(sse.headers['content-type']).toBe('text/event-stream');
    const id = AcceptedFrame.parse(accepted.frame).event_id;
    await agent.nextOf('event', id);
    for (const t of ['He', 'llo']) agent.send({ type: 'token', event_id: id, token: t });
    agent.send({ type: 'reply', event_id: id, content: 'Hello', finish_reason: 'stop' });
    await sse.ended;
    expect(sse.events.map((e) => [e.event, e.id])).toEqual([
      ['accepted', undefined],
      ['token', '1.0'],
      ['token', '1.1'],
      ['reply', undefined],
    ]);
    sse.events.filter((e) => e.event === 'token').forEach((e) => AppTokenFrame.parse(e.frame));
    expect(AppReplyFrame.parse(sse.events[3]?.frame)).toMatchObject({ content: 'Hello', event_id: id });
  });

  test('a streaming send refused is a plain HTTP error, not a stream', async () => {
    const sse = http(r).sendStreaming({ agent_id: 'nobody', thread_id: 't', payload: 1 });
    await sse.ended;
    expect(sse.status).toBe(404);
    expect(JSON.parse(sse.body)).toMatchObject({ type: 'error', code: 'AGENT_NOT_FOUND' });
  });

  test('GET /v1/events/:id/stream with Last-Event-ID resumes exactly, on any node, then the final; ?last_event_id= too', async () => {
    const agent = await r.connect('athena');
    const id = await sentAndDelivered(r, agent);
    for (let i = 0; i < 6; i++) agent.send({ type: 'token', event_id: id, token: `t${i}` });
    const fromStart = http(r).stream(id);
    await fromStart.until(() => fromStart.events.length === 6);
    expect(fromStart.events.map((e) => e.id)).toEqual(['1.0', '1.1', '1.2', '1.3', '1.4', '1.5']);
    fromStart.destroy();

    // each stream takes the event over, as a resume does: one at a time here
    const resumed = http(r).stream(id, { 'last-event-id': '1.3' });
    await resumed.until(() => resumed.events.length === 2);
    expect(resumed.events.map((e) => [e.id, e.frame.token])).toEqual([['1.4', 't4'], ['1.5', 't5']]);
    resumed.destroy();

    const byQuery = http(r).stream(id, {}, '?last_event_id=1.4');
    await byQuery.until(() => byQuery.events.length === 1);
    agent.send({ type: 'token', event_id: id, token: 't6' });
    agent.send({ type: 'reply', event_id: id, content: 't0t1t2t3t4t5t6', finish_reason: 'stop' });
    await byQuery.ended;
    expect(byQuery.events.map((e) => e.id ?? e.event)).toEqual(['1.5', '1.6', 'reply']);

    // after the final: the whole record, then the final, at once
    const later = http(r).stream(id);
    await later.ended;
    expect(later.events.map((e) => e.id ?? e.event)).toEqual(['1.0', '1.1', '1.2', '1.3', '1.4', '1.5', '1.6', 'reply']);
  });

  test("a stream of an unknown or another app's event is 404, the same answer", async () => {
    const agent = await r.connect('athena');
    const id = await sentAndDelivered(r, agent);
    const foreign = http(r).stream(id, {}, '', r.tokens.flow);
    const unknown = http(r).stream('evt_01UNKNOWNEVENTIDXX', {}, '', r.tokens.flow);
    await Promise.all([foreign.ended, unknown.ended]);
    expect([foreign.status, unknown.status]).toEqual([404, 404]);
    // the same answer but for the id each names
    expect(foreign.body.replace(id, 'ID')).toBe(unknown.body.replace('evt_01UNKNOWNEVENTIDXX', 'ID'));
    agent.send({ type: 'reply', event_id: id, content: '', finish_reason: 'stop' });
  });

  test('an idle stream gets keep-alive comments (RELAY_SSE_KEEPALIVE_MS)', async () => {
    const agent = await r.connect('athena');
    const id = await sentAndDelivered(r, agent);
    const sse = http(r).stream(id);
    await sse.until(() => sse.comments.filter((c) => c === ': keepalive').length >= 2, 5_000);
    expect(sse.events).toEqual([]);
    agent.send({ type: 'reply', event_id: id, content: 'x', finish_reason: 'stop' });
    await sse.ended;
    expect(sse.events.map((e) => e.event)).toEqual(['reply']);
  });
});

// One node: these read its /metrics.
describe.each(backendsUnderTest({ singleNode: true }))('HTTP API on one node ($name backend)', (backend) => {
  const r = useRelay(backend, { env: { RELAY_TOKEN_DROP_BYTES: '1024', RELAY_MAX_BUFFERED_BYTES: '65536' } });

  test('requests are counted by route and status; refused input like frames', async () => {
    const before = await scrape(r.relay.httpUrl);
    await http(r).send(eventFrame({ type: undefined }));
    await http(r).send('{nope');
    const after = await scrape(r.relay.httpUrl);
    const delta = (name: string, labels: Record<string, string>) => metricSum(after, name, labels) - metricSum(before, name, labels);
    expect(delta('relay_http_requests_total', { route: 'send', status: '202' })).toBe(1);
    expect(delta('relay_http_requests_total', { route: 'send', status: '400' })).toBe(1);
    expect(delta('relay_frames_rejected_total', { role: 'app', code: 'INVALID_JSON' })).toBe(1);
    expect(delta('relay_events_accepted_total', { agent: 'athena' })).toBe(1);
  });

  test('a disconnected stream frees its connection', async () => {
    const agent = await r.connect('athena');
    const id = await sentAndDelivered(r, agent);
    const sse = http(r).stream(id);
    await sse.started;
    expect(await eventually(async () => metricSum(await scrape(r.relay.httpUrl), 'relay_sse_streams'), 1)).toBe(1);
    sse.destroy();
    expect(await eventually(async () => metricSum(await scrape(r.relay.httpUrl), 'relay_sse_streams'), 0)).toBe(0);
    agent.send({ type: 'reply', event_id: id, content: '', finish_reason: 'stop' });
  });

  test('a client that leaves mid-stream loses nothing: the final reaches the app another way', async () => {
    const agent = await r.connect('athena');
    const app = await r.connect('portal');
    const sse = http(r).sendStreaming(eventFrame({ type: undefined, thread_id: 'portal:leave' }));
    const id = (await sse.nextOf('accepted')).frame.event_id as string;
    await agent.nextOf('event', id);
    agent.send({ type: 'token', event_id: id, token: 'a' });
    await sse.until(() => sse.events.length === 2);
    sse.destroy();
    // once the node has seen the stream go (a final written before that is the stream's, as on a socket)
    expect(await eventually(async () => metricSum(await scrape(r.relay.httpUrl), 'relay_sse_streams'), 0)).toBe(0);
    agent.send({ type: 'reply', event_id: id, content: 'a', finish_reason: 'stop' });
    expect(await app.nextOf('reply', id)).toMatchObject({ content: 'a' });
  });

  test('a slow reader is treated like a slow socket: tokens dropped or the stream closed, and a resume gets every token', async () => {
    const agent = await r.connect('athena');
    const id = await sentAndDelivered(r, agent);
    const sse = http(r).stream(id);
    await sse.started;
    sse.pause();
    const before = await scrape(r.relay.httpUrl);
    const token = 'z'.repeat(16_000);
    const count = 800; // 12.8 MB: more than the kernel's socket buffers hold
    for (let i = 0; i < count; i++) agent.send({ type: 'token', event_id: id, token });
    const held = await eventually(async () => {
      const after = await scrape(r.relay.httpUrl);
      const delta = (name: string, labels: Record<string, string>) => metricSum(after, name, labels) - metricSum(before, name, labels);
      return delta('relay_tokens_dropped_total', { reason: 'backpressure' }) + delta('relay_backpressure_closes_total', { role: 'app' }) > 0;
    }, true, 20_000);
    expect(held).toBe(true);
    agent.send({ type: 'reply', event_id: id, content: 'long', finish_reason: 'stop' });
    // what the reader missed, a resume from its last token gets: every recorded token, then the final
    sse.resume();
    await sse.ended;
    const last = sse.events.filter((e) => e.event === 'token').pop()?.id;
    const rest = http(r).stream(id, last ? { 'last-event-id': last } : {});
    await rest.ended;
    const seqs = [...sse.events, ...rest.events].filter((e) => e.event === 'token').map((e) => Number(e.id?.split('.')[1]));
    // RELAY_STREAM_MAX_BYTES (1 MiB) records the first 65 tokens of 16 kB: those are promised
    expect([...new Set(seqs)].filter((s) => s < 65).sort((a, b) => a - b)).toEqual([...Array(65).keys()]);
    expect(rest.events.pop()?.event).toBe('reply');
  }, 30_000);
});
