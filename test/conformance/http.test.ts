import { backendsUnderTest } from '../support/backends';
import { eventFrame } from '../support/client';
import { useRelay } from '../support/relay-fixture';
import { eventually, httpRequest, metricSum, scrape } from '../support/wire-probe';

// single node: this suite reads one node's /metrics
describe.each(backendsUnderTest({ singleNode: true }))('HTTP routes ($name backend)', (backend) => {
  const r = useRelay(backend);
  const json = (body: string) => JSON.parse(body) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

  test('GET /healthz is 200 JSON', async () => {
    const answer = await httpRequest(`${r.relay.httpUrl}/healthz`);
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toMatch(/^application\/json/);
    expect(answer.headers['x-content-type-options']).toBe('nosniff');
    expect(json(answer.body)).toEqual({ status: 'ok' });
    // a query string does not change the route
    expect((await httpRequest(`${r.relay.httpUrl}/healthz?probe=1`)).status).toBe(200);
  });

  test('GET /readyz is 200 JSON while the node runs', async () => {
    const answer = await httpRequest(`${r.relay.httpUrl}/readyz`);
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toMatch(/^application\/json/);
    expect(json(answer.body)).toEqual({ status: 'ready' });
  });

  test('an unknown route is 404 JSON, for any method', async () => {
    for (const [method, path] of [
      ['GET', '/nope'],
      ['GET', '/'],
      ['GET', '/v1/ws'],
      ['GET', '/v1/ws/apps'],
      ['POST', '/nope'],
      ['DELETE', '/v1/events/evt_1'],
    ] as const) {
      const answer = await httpRequest(`${r.relay.httpUrl}${path}`, method);
      expect([method, path, answer.status]).toEqual([method, path, 404]);
      expect(answer.headers['content-type']).toMatch(/^application\/json/);
      expect(answer.headers['x-content-type-options']).toBe('nosniff');
      expect(json(answer.body).error).toMatchObject({ code: expect.any(String), message: expect.any(String) });
    }
  });

  test('a plain GET (no upgrade) of a WebSocket endpoint is 426 JSON, not 404', async () => {
    for (const path of ['/v1/ws/app', '/v1/ws/agent', `/v1/ws/app?token=${r.tokens.portal}`]) {
      const answer = await httpRequest(`${r.relay.httpUrl}${path}`);
      expect(answer.status).toBe(426);
      expect(answer.headers.upgrade).toBe('websocket');
      expect(answer.headers['content-type']).toMatch(/^application\/json/);
      expect(answer.headers['x-content-type-options']).toBe('nosniff');
      expect(json(answer.body).error).toMatchObject({ code: expect.any(String), message: expect.any(String) });
    }
    // and upgrades on the same paths still work
    const app = await r.connect('portal');
    app.send({ type: 'ping' });
    expect(await app.nextOf('pong')).toEqual({ type: 'pong' });
  });

  test('GET /metrics is Prometheus text with relay series and process default metrics', async () => {
    const answer = await httpRequest(`${r.relay.httpUrl}/metrics`);
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toMatch(/^text\/plain/);
    expect(answer.headers['x-content-type-options']).toBe('nosniff');
    expect(answer.body).toMatch(/^# HELP relay_connections /m);
    expect(answer.body).toMatch(/^# TYPE relay_connections gauge$/m);
    expect(answer.body).toMatch(/^# TYPE relay_frames_rejected_total counter$/m);
    expect(answer.body).toMatch(/^# TYPE relay_upgrades_rejected_total counter$/m);
    expect(answer.body).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect(answer.body).toMatch(/^process_resident_memory_bytes \d/m);
    expect(answer.body).toMatch(/^nodejs_eventloop_lag_seconds \d/m);
    // every non-comment line is `name{labels} value`
    for (const line of answer.body.split('\n').filter((l) => l !== '' && !l.startsWith('#'))) {
      expect(line).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? [-+0-9.eEInfa]+$/);
    }
  });

  test('relay_connections follows sockets opening and closing, per role', async () => {
    const count = async (role: string) => metricSum(await scrape(r.relay.httpUrl), 'relay_connections', { role });
    const apps = await count('app');
    const agents = await count('agent');
    const app1 = await r.connect('portal');
    await r.connect('flow');
    const agent = await r.connect('athena');
    expect(await count('app')).toBe(apps + 2);
    expect(await count('agent')).toBe(agents + 1);
    await app1.close();
    await agent.close();
    expect(await eventually(() => count('app'), apps + 1)).toBe(apps + 1);
    expect(await eventually(() => count('agent'), agents)).toBe(agents);
  });

  test('relay_frames_rejected_total moves after a bad frame, labelled by role and code', async () => {
    const app = await r.connect('portal');
    const agent = await r.connect('athena');
    const before = await scrape(r.relay.httpUrl);
    app.send('this is not json');
    await app.nextOf('error');
    app.send({ type: 'bogus' });
    await app.nextOf('error');
    agent.send({ type: 'token', event_id: 'evt_000000000000unknown', token: 'x' });
    await agent.nextOf('error');
    const after = await scrape(r.relay.httpUrl);
    const delta = (labels: Record<string, string>) =>
      metricSum(after, 'relay_frames_rejected_total', labels) - metricSum(before, 'relay_frames_rejected_total', labels);
    expect(delta({})).toBe(3);
    expect(delta({ role: 'app', code: 'INVALID_JSON' })).toBe(1);
    expect(delta({ role: 'app', code: 'UNKNOWN_TYPE' })).toBe(1);
    expect(delta({ role: 'agent', code: 'UNKNOWN_EVENT' })).toBe(1);
  });

  test('metrics never carry tokens, event ids, thread ids or payloads', async () => {
    const agent = await r.connect('athena');
    const app = await r.connect('portal');
    app.send(eventFrame({ thread_id: 'portal:secret-thread-42', payload: { secret: 'payload-secret-77' }, ref: 'm' }));
    const accepted = await app.nextOf('accepted');
    const event = await agent.nextOf('event', accepted.event_id);
    agent.send({ type: 'reply', event_id: event.event_id, content: 'ok', finish_reason: 'stop' });
    await app.nextOf('reply', event.event_id);
    const text = await scrape(r.relay.httpUrl);
    expect(metricSum(text, 'relay_events_accepted_total', { agent: 'athena' })).toBeGreaterThanOrEqual(1);
    for (const secret of [r.tokens.portal, r.tokens.athena, accepted.event_id, 'secret-thread-42', 'payload-secret-77']) {
      expect(text).not.toContain(secret);
    }
  });
});
