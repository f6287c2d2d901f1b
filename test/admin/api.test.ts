import { randomBytes } from 'node:crypto';
import { ADMIN_TOKEN, adminApi, type Api } from '../support/admin';
import { TestClient, UpgradeRefused, eventFrame, type Frame } from '../support/client';
import { send, sleep } from '../support/lifecycle';
import { startRedis, type RedisUnderTest } from '../support/redis-server';
import { startRelay, type RelayProcess } from '../support/relay-process';
import { testRegistry } from '../support/registry';
import { metricSum, scrape } from '../support/wire-probe';

/**
 * The admin API end to end: two real nodes sharing one real redis-server, in admin registry
 * mode. A change made through one node is what the other does next.
 */
describe('admin API on two nodes sharing Redis', () => {
  let redis: RedisUnderTest;
  let nodes: RelayProcess[] = [];
  let api1: Api;
  let api2: Api;
  let env: Record<string, string>;
  const { registry, tokens } = testRegistry();
  const clients: TestClient[] = [];
  const connect = async (node: RelayProcess, role: 'app' | 'agent', token: string) => {
    const client = await TestClient.connect(node.url, role, token);
    clients.push(client);
    return client;
  };
  const refusal = async (node: RelayProcess, role: 'app' | 'agent', token: string): Promise<number> => {
    const outcome = await connect(node, role, token).then(
      () => 0,
      (err: unknown) => (err instanceof UpgradeRefused ? err.status : -1),
    );
    return outcome;
  };
  const id = (stem: string) => `${stem}-${randomBytes(3).toString('hex')}`;

  beforeAll(async () => {
    redis = await startRedis();
    env = {
      REDIS_URL: redis.url,
      RELAY_REDIS_PREFIX: redis.prefix,
      RELAY_ADMIN_TOKEN: ADMIN_TOKEN,
      RELAY_REGISTRY_MODE: 'admin',
    };
    nodes = await Promise.all([startRelay({ registry, env }), startRelay({ registry, env })]);
    api1 = adminApi((nodes[0] as RelayProcess).httpUrl);
    api2 = adminApi((nodes[1] as RelayProcess).httpUrl);
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });
  afterAll(async () => {
    const codes = await Promise.all(nodes.map((n) => n.stop()));
    await redis?.stop();
    expect(codes).toEqual(nodes.map(() => 0));
  });

  const node = (n: 1 | 2) => nodes[n - 1] as RelayProcess;

  describe('authentication', () => {
    test('a missing or wrong admin token is 401 JSON, counted; the right one works', async () => {
      const before = metricSum(await scrape(node(1).httpUrl), 'relay_admin_unauthorized_total');
      for (const token of [null, 'wrong-token-wrong-token', `${ADMIN_TOKEN}x`, ADMIN_TOKEN.slice(0, -1)]) {
        const answer = await adminApi(node(1).httpUrl, token)('GET', '/v1/admin/apps');
        expect([token, answer.status]).toEqual([token, 401]);
        expect(answer.body.error).toMatchObject({ code: 'unauthorized', message: expect.any(String) });
        expect(answer.headers.get('www-authenticate')).toMatch(/^Bearer/);
        expect(answer.headers.get('x-content-type-options')).toBe('nosniff');
      }
      // A wrong token is refused before the route is looked at: unknown routes say nothing.
      expect((await adminApi(node(1).httpUrl, 'nope-nope-nope-nope')('GET', '/v1/admin/nothing')).status).toBe(401);
      expect(metricSum(await scrape(node(1).httpUrl), 'relay_admin_unauthorized_total')).toBe(before + 5);
      const answered = async () => metricSum(await scrape(node(1).httpUrl), 'relay_admin_requests_total', { method: 'get', status: '200' });
      const ok = await answered();
      const apps = await api1('GET', '/v1/admin/apps');
      expect(apps.status).toBe(200);
      // a browser must not read an admin answer (which echoes names) as anything but JSON
      expect(apps.headers.get('content-type')).toMatch(/^application\/json/);
      expect(apps.headers.get('x-content-type-options')).toBe('nosniff');
      expect(await answered()).toBe(ok + 1);
    });

    test('with no RELAY_ADMIN_TOKEN the admin API and the Dashboard are 404', async () => {
      const off = await startRelay({ registry: testRegistry().registry });
      try {
        for (const path of ['/v1/admin/apps', '/v1/admin/agents', '/dashboard/']) {
          const answer = await adminApi(off.httpUrl)('GET', path);
          expect([path, answer.status]).toEqual([path, 404]);
          expect(answer.body.error.code).toBe('not_found');
        }
      } finally {
        expect(await off.stop()).toBe(0);
      }
    });
  });

  describe('apps and agents', () => {
    test('create, read on the other node, list, change, delete', async () => {
      const app = id('crm');
      const created = await api1('POST', '/v1/admin/apps', { id: app, name: 'CRM', rate_limit_per_min: 30, max_connections: 3 });
      expect(created.status).toBe(201);
      expect(created.body).toEqual({
        id: app,
        name: 'CRM',
        rate_limit_per_min: 30,
        hard_rate_limit_per_min: 60,
        max_connections: 3,
        connections: 0,
        webhook_url: null,
        webhook_secret_set: false,
      });
      expect((await api2('GET', `/v1/admin/apps/${app}`)).body).toEqual(created.body);
      expect((await api2('GET', '/v1/admin/apps')).body.apps.map((a: Frame) => a.id)).toContain(app);
      const changed = await api2('PATCH', `/v1/admin/apps/${app}`, { name: 'CRM 2', max_connections: 5 });
      expect(changed).toMatchObject({ status: 200, body: { name: 'CRM 2', max_connections: 5, rate_limit_per_min: 30 } });
      expect((await api1('GET', `/v1/admin/apps/${app}`)).body.name).toBe('CRM 2');
      expect(await api1('DELETE', `/v1/admin/apps/${app}`)).toMatchObject({ status: 200, body: { id: app, deleted: true } });
      expect((await api2('GET', `/v1/admin/apps/${app}`)).status).toBe(404);
    });

    test('an agent created through the API takes connections and events at once, on any node', async () => {
      const agentId = id('zeus');
      const created = await api2('POST', '/v1/admin/agents', {
        id: agentId,
        name: 'Zeus',
        description: 'Answers everything',
        allow_apps: ['portal'],
        default_ttl_ms: 60_000,
        max_in_flight: 2,
      });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ id: agentId, allow_apps: ['portal'], max_in_flight: 2, status: 'offline', waiting: 0 });
      const issued = await api1('POST', `/v1/admin/agents/${agentId}/tokens`);
      expect(issued.status).toBe(201);
      expect(issued.body.token).toMatch(new RegExp(`^rla_${agentId}_[A-Za-z0-9]{32}$`));
      const agent = await connect(node(1), 'agent', issued.body.token);
      const app = await connect(node(2), 'app', tokens.portal);
      const accepted = await send(app, eventFrame({ agent_id: agentId }));
      expect(accepted.type).toBe('accepted');
      expect(await agent.nextOf('event', accepted.event_id)).toMatchObject({ app_id: 'portal', attempt: 1 });
      const listed = (await api2('GET', '/v1/admin/agents')).body.agents.find((a: Frame) => a.id === agentId);
      expect(listed).toMatchObject({ status: 'online', connections: 1 });
    });

    test('a removed allowlist entry makes the next event ALLOWLIST_DENIED, cluster-wide at once', async () => {
      const agentId = id('hermes');
      await api1('POST', '/v1/admin/agents', { id: agentId, allow_apps: ['portal', 'flow'] });
      const portal = await connect(node(1), 'app', tokens.portal);
      expect((await send(portal, eventFrame({ agent_id: agentId }))).type).toBe('accepted');
      const put = await api2('PUT', `/v1/admin/agents/${agentId}/allowlist`, { apps: ['flow'] });
      expect(put).toMatchObject({ status: 200, body: { agent_id: agentId, apps: ['flow'] } });
      expect(await send(portal, eventFrame({ agent_id: agentId }))).toMatchObject({ type: 'error', code: 'ALLOWLIST_DENIED' });
      // and back: allowed again at once
      await api2('PATCH', `/v1/admin/agents/${agentId}`, { allow_apps: ['*'] });
      expect((await send(portal, eventFrame({ agent_id: agentId }))).type).toBe('accepted');
    });

    test('a lowered rate limit applies to the next event on every node', async () => {
      const app = id('burst');
      await api1('POST', '/v1/admin/apps', { id: app });
      await api1('PATCH', '/v1/admin/agents/athena', { allow_apps: ['portal', 'flow', app] });
      const token = (await api1('POST', `/v1/admin/apps/${app}/tokens`)).body.token as string;
      const [on1, on2] = [await connect(node(1), 'app', token), await connect(node(2), 'app', token)];
      expect((await send(on1, eventFrame())).type).toBe('accepted');
      await api2('PATCH', `/v1/admin/apps/${app}`, { rate_limit_per_min: 1, hard_rate_limit_per_min: 1 });
      // the window already holds one event: the hard limit of 1 refuses the next, on both nodes
      expect(await send(on2, eventFrame())).toMatchObject({ type: 'error', code: 'RATE_LIMITED' });
      expect(await send(on1, eventFrame())).toMatchObject({ type: 'error', code: 'RATE_LIMITED' });
    });

    test('deleting an agent ends its waiting events with a final CANCELLED at their apps', async () => {
      const agentId = id('ghost');
      await api1('POST', '/v1/admin/agents', { id: agentId, allow_apps: ['portal'] });
      const app = await connect(node(2), 'app', tokens.portal);
      const first = await send(app, eventFrame({ agent_id: agentId, thread_id: 'portal:a:1' }));
      const second = await send(app, eventFrame({ agent_id: agentId, thread_id: 'portal:b:1' }));
      expect([first.queued, second.queued]).toEqual([true, true]);
      expect((await api1('GET', '/v1/admin/queues')).body.queues.find((q: Frame) => q.agent_id === agentId)).toMatchObject({ waiting: 2 });
      const deleted = await api1('DELETE', `/v1/admin/agents/${agentId}`);
      expect(deleted).toMatchObject({ status: 200, body: { id: agentId, deleted: true, events_ended: 2 } });
      for (const accepted of [first, second]) {
        const final = await app.next((f) => f.type === 'error' && f.event_id === accepted.event_id);
        expect(final).toMatchObject({ code: 'CANCELLED', message: `Agent "${agentId}" was deleted` });
      }
      expect(await send(app, eventFrame({ agent_id: agentId }))).toMatchObject({ type: 'error', code: 'AGENT_NOT_FOUND' });
      const timeline = await api2('GET', `/v1/admin/events/${first.event_id}`);
      expect(timeline.body).toMatchObject({ state: 'finished', outcome: 'CANCELLED' });
    });
  });

  describe('tokens', () => {
    test('issue shows the secret once; the list has created and last used, never the secret', async () => {
      const issued = await api1('POST', '/v1/admin/apps/flow/tokens');
      expect(issued.status).toBe(201);
      expect(Object.keys(issued.body).sort()).toEqual(['created_at', 'expires_at', 'id', 'last_used_at', 'token']);
      const before = (await api2('GET', '/v1/admin/apps/flow/tokens')).body.tokens.find((t: Frame) => t.id === issued.body.id);
      expect(before).toEqual({ id: issued.body.id, created_at: issued.body.created_at, last_used_at: null, expires_at: null });
      await connect(node(2), 'app', issued.body.token);
      const after = (await api1('GET', '/v1/admin/apps/flow/tokens')).body;
      expect(after.tokens.find((t: Frame) => t.id === issued.body.id).last_used_at).toEqual(expect.any(String));
      expect(JSON.stringify(after)).not.toContain(issued.body.token);
    });

    test("a revoked token's sockets on another node close with 1008 within a second; it is refused after", async () => {
      const issued = (await api1('POST', '/v1/admin/agents/klyve/tokens')).body;
      const onOther = [await connect(node(2), 'agent', issued.token), await connect(node(2), 'agent', issued.token)];
      const onSame = await connect(node(1), 'agent', issued.token);
      const untouched = await connect(node(2), 'agent', tokens.klyve);
      const start = Date.now();
      const revoked = await api1('DELETE', `/v1/admin/agents/klyve/tokens/${issued.id}`);
      expect(revoked).toMatchObject({ status: 200, body: { id: issued.id, revoked: true } });
      const closes = await Promise.all([...onOther, onSame].map((c) => c.closed));
      expect(Date.now() - start).toBeLessThan(1_000);
      for (const close of closes) expect(close.code).toBe(1008);
      expect(await refusal(node(1), 'agent', issued.token)).toBe(401);
      expect(await refusal(node(2), 'agent', issued.token)).toBe(401);
      // the agent's other token is not affected
      untouched.send({ type: 'ping', ref: 'still' });
      expect(await untouched.nextOf('pong')).toMatchObject({ ref: 'still' });
      expect((await api2('DELETE', `/v1/admin/agents/klyve/tokens/${issued.id}`)).status).toBe(404);
    });

    test('a rotated token keeps working during its grace and stops after; the new one works', async () => {
      const old = (await api1('POST', '/v1/admin/apps/academy/tokens')).body;
      const oldSocket = await connect(node(2), 'app', old.token);
      const rotated = await api2('POST', `/v1/admin/apps/academy/tokens/${old.id}/rotate`, { grace_s: 2 });
      expect(rotated.status).toBe(201);
      // secrets the API makes meet the registry file's rule: 128 bits (22 characters) or more
      expect(old.token).toMatch(/^rlk_academy_[0-9A-Za-z]{22,}$/);
      expect(rotated.body.token).toMatch(/^rlk_academy_[0-9A-Za-z]{22,}$/);
      expect(rotated.body.replaces).toMatchObject({ id: old.id, expires_at: expect.any(String) });
      const graceEnds = Date.parse(rotated.body.replaces.expires_at);
      // during the grace: old sockets stay, and the old token still opens new ones
      expect(await refusal(node(1), 'app', old.token)).toBe(0);
      expect(await refusal(node(1), 'app', rotated.body.token)).toBe(0);
      const closed = await oldSocket.closed;
      expect(closed.code).toBe(1008);
      expect(Date.now()).toBeGreaterThanOrEqual(graceEnds - 50);
      expect(Date.now()).toBeLessThan(graceEnds + 1_500);
      expect(await refusal(node(1), 'app', old.token)).toBe(401);
      expect(await refusal(node(2), 'app', old.token)).toBe(401);
      expect(await refusal(node(2), 'app', rotated.body.token)).toBe(0);
      const listed = (await api1('GET', '/v1/admin/apps/academy/tokens')).body.tokens.map((t: Frame) => t.id);
      expect(listed).toContain(rotated.body.id);
      expect(listed).not.toContain(old.id);
    });

    test('rotation without grace ends the old token at once', async () => {
      const old = (await api1('POST', '/v1/admin/apps/academy/tokens')).body;
      const socket = await connect(node(1), 'app', old.token);
      const rotated = await api1('POST', `/v1/admin/apps/academy/tokens/${old.id}/rotate`);
      expect(rotated.status).toBe(201);
      expect((await socket.closed).code).toBe(1008);
      expect(await refusal(node(2), 'app', old.token)).toBe(401);
    });

    test("deleting an app closes its sockets (1008) and takes it off agents' allowlists", async () => {
      const app = id('gone');
      await api1('POST', '/v1/admin/apps', { id: app });
      await api1('PUT', '/v1/admin/agents/klyve/allowlist', { apps: ['portal', app] });
      const token = (await api1('POST', `/v1/admin/apps/${app}/tokens`)).body.token as string;
      const socket = await connect(node(2), 'app', token);
      await api1('DELETE', `/v1/admin/apps/${app}`);
      expect((await socket.closed).code).toBe(1008);
      expect((await api2('GET', '/v1/admin/agents/klyve')).body.allow_apps).toEqual(['portal']);
    });
  });

  describe('connections, queues and event timelines', () => {
    test('connections are listed cluster-wide with role, id, node and since', async () => {
      const app = await connect(node(1), 'app', tokens.portal);
      const agent = await connect(node(2), 'agent', tokens.athena);
      for (const c of [app, agent]) {
        c.send({ type: 'ping', ref: 'r' });
        await c.nextOf('pong');
      }
      const answer = await api2('GET', '/v1/admin/connections');
      expect(answer.status).toBe(200);
      const byNode = (n: RelayProcess) => answer.body.connections.filter((c: Frame) => c.node.startsWith(n.nodeId));
      expect(byNode(node(1))).toEqual(expect.arrayContaining([expect.objectContaining({ role: 'app', id: 'portal', since: expect.any(String) })]));
      expect(byNode(node(2))).toEqual(expect.arrayContaining([expect.objectContaining({ role: 'agent', id: 'athena' })]));
      const agents = await api1('GET', '/v1/admin/connections?role=agent&id=athena');
      expect(agents.body.connections.every((c: Frame) => c.role === 'agent' && c.id === 'athena')).toBe(true);
      expect((await api1('GET', '/v1/admin/connections?role=robot')).status).toBe(400);
    });

    test("an event's timeline: accepted, queued, delivered with attempt and node, first token, final; never the payload", async () => {
      const app = await connect(node(1), 'app', tokens.portal);
      const marker = `secret-payload-${randomBytes(4).toString('hex')}`;
      const accepted = await send(app, eventFrame({ agent_id: 'klyve', payload: { note: marker } }));
      expect(accepted.queued).toBe(true);
      const agent = await connect(node(2), 'agent', tokens.klyve);
      const event = await agent.nextOf('event', accepted.event_id);
      agent.send({ type: 'token', event_id: event.event_id, token: 'Hel' });
      agent.send({ type: 'token', event_id: event.event_id, token: 'lo' });
      agent.send({ type: 'reply', event_id: event.event_id, content: 'Hello', finish_reason: 'stop' });
      await app.nextOf('reply', accepted.event_id);
      let timeline = await api2('GET', `/v1/admin/events/${accepted.event_id}`);
      for (let i = 0; i < 50 && timeline.body.steps?.length < 5; i++) {
        await sleep(20);
        timeline = await api2('GET', `/v1/admin/events/${accepted.event_id}`);
      }
      expect(timeline.status).toBe(200);
      expect(timeline.body).toMatchObject({
        event_id: accepted.event_id,
        app_id: 'portal',
        agent_id: 'klyve',
        thread_id: 'portal:task-123:comment-456',
        session_key: 'relay:klyve:portal:task-123',
        state: 'finished',
        outcome: 'reply',
      });
      expect(timeline.body.steps.map((s: Frame) => s.step)).toEqual(['accepted', 'queued', 'delivered', 'first_token', 'final']);
      const [acceptedStep, queued, delivered, firstToken, final] = timeline.body.steps as Frame[];
      expect(acceptedStep?.node).toMatch(new RegExp(`^${node(1).nodeId}-`));
      expect(queued).toMatchObject({ reason: 'offline' });
      expect(delivered).toMatchObject({ attempt: 1, node: expect.stringMatching(new RegExp(`^${node(2).nodeId}-`)) });
      expect(firstToken).toMatchObject({ attempt: 1 });
      expect(final).toMatchObject({ outcome: 'reply', finish_reason: 'stop' });
      const { latencies_ms: latencies } = timeline.body;
      expect(latencies.delivered).toBeGreaterThanOrEqual(0);
      expect(latencies.final).toBeGreaterThanOrEqual(latencies.first_token);
      expect(JSON.stringify(timeline.body)).not.toContain(marker);
    });
  });

  describe('webhooks', () => {
    test.each(['apps', 'agents'] as const)(
      '%s: PATCH sets and removes webhook_url; webhook-secret answers a new secret once, and only "set" after',
      async (kind) => {
        const principal = id(kind === 'apps' ? 'hooked-app' : 'hooked-agent');
        expect((await api1('POST', `/v1/admin/${kind}`, { id: principal })).status).toBe(201);
        const set = await api2('PATCH', `/v1/admin/${kind}/${principal}`, { webhook_url: 'http://10.0.0.7:9000/hook' });
        // a private-network target is allowed: webhooks are set by admins
        expect(set).toMatchObject({ status: 200, body: { webhook_url: 'http://10.0.0.7:9000/hook', webhook_secret_set: false } });

        const first = await api1('POST', `/v1/admin/${kind}/${principal}/webhook-secret`, {});
        expect(first.status).toBe(201);
        expect(first.body.webhook_secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
        const second = await api2('POST', `/v1/admin/${kind}/${principal}/webhook-secret`);
        expect(second.body.webhook_secret).toMatch(/^whsec_/);
        expect(second.body.webhook_secret).not.toBe(first.body.webhook_secret);
        for (const read of [await api1('GET', `/v1/admin/${kind}/${principal}`), await api2('GET', `/v1/admin/${kind}`)]) {
          const text = JSON.stringify(read.body);
          expect(text).not.toContain(first.body.webhook_secret);
          expect(text).not.toContain(second.body.webhook_secret);
        }
        expect((await api1('GET', `/v1/admin/${kind}/${principal}`)).body).toMatchObject({
          webhook_url: 'http://10.0.0.7:9000/hook',
          webhook_secret_set: true,
          ...(kind === 'agents' ? { status: 'http' } : {}),
        });

        const removed = await api1('PATCH', `/v1/admin/${kind}/${principal}`, { webhook_url: null });
        expect(removed.body).toMatchObject({ webhook_url: null, ...(kind === 'agents' ? { status: 'offline' } : {}) });
        for (const bad of ['ftp://example.com/x', 'not a url', 42]) {
          const answer = await api1('PATCH', `/v1/admin/${kind}/${principal}`, { webhook_url: bad });
          expect([bad, answer.status, answer.body.error?.field]).toEqual([bad, 400, 'webhook_url']);
        }
        expect((await api1('POST', `/v1/admin/${kind}/${principal}/webhook-secret`, { secret: 'mine' })).status).toBe(400);
        expect((await api1('POST', `/v1/admin/${kind}/nobody-here/webhook-secret`, {})).status).toBe(404);
        expect((await api1('DELETE', `/v1/admin/${kind}/${principal}`)).status).toBe(200);
      },
    );

    test("an app's webhook tries route: its URL and no tries before any final; 404 for an unknown app", async () => {
      const app = id('hooked');
      expect((await api1('POST', '/v1/admin/apps', { id: app })).status).toBe(201);
      const listed = await api2('GET', `/v1/admin/apps/${app}/webhooks`);
      expect(listed).toMatchObject({ status: 200, body: { app_id: app, webhook_url: null, webhook_secret_set: false, tries: [] } });
      expect((await api2('GET', '/v1/admin/apps/nobody-here/webhooks')).status).toBe(404);
    });
  });

  describe('bad input', () => {
    test('unknown ids are 404', async () => {
      for (const [method, path] of [
        ['GET', '/v1/admin/apps/nobody'],
        ['PATCH', '/v1/admin/apps/nobody'],
        ['DELETE', '/v1/admin/apps/nobody'],
        ['GET', '/v1/admin/agents/nobody'],
        ['PATCH', '/v1/admin/agents/nobody'],
        ['DELETE', '/v1/admin/agents/nobody'],
        ['PUT', '/v1/admin/agents/nobody/allowlist'],
        ['GET', '/v1/admin/apps/nobody/tokens'],
        ['POST', '/v1/admin/agents/nobody/tokens'],
        ['DELETE', '/v1/admin/apps/portal/tokens/0123456789ab'],
        ['POST', '/v1/admin/apps/portal/tokens/0123456789ab/rotate'],
        ['GET', '/v1/admin/events/evt_01HZZZZZZZZZZZZZZZZZZZZZZZ'],
        ['GET', '/v1/admin/nothing'],
      ] as const) {
        const body = method === 'PATCH' ? { name: 'x' } : method === 'PUT' ? { apps: [] } : undefined;
        const answer = await api1(method, path, body);
        expect([method, path, answer.status, answer.body.error?.code]).toEqual([method, path, 404, 'not_found']);
        expect(answer.body.error.message).toEqual(expect.any(String));
      }
    });

    test('invalid bodies are 400 naming the field', async () => {
      for (const [method, path, body, field] of [
        ['POST', '/v1/admin/apps', {}, 'id'],
        ['POST', '/v1/admin/apps', { id: 'ok-app', rate_limit_per_min: 0 }, 'rate_limit_per_min'],
        ['POST', '/v1/admin/apps', { id: 'ok-app', max_connections: 'ten' }, 'max_connections'],
        ['POST', '/v1/admin/apps', { id: 'ok-app', colour: 'red' }, 'colour'],
        ['POST', '/v1/admin/apps', { id: 'ok-app', rate_limit_per_min: 10, hard_rate_limit_per_min: 5 }, 'hard_rate_limit_per_min'],
        ['POST', '/v1/admin/apps', [1, 2], ''],
        ['PATCH', '/v1/admin/apps/portal', { name: '' }, 'name'],
        ['POST', '/v1/admin/agents', { id: 'ok-agent', allow_apps: 'portal' }, 'allow_apps'],
        ['POST', '/v1/admin/agents', { id: 'ok-agent', allow_apps: ['nobody'] }, 'allow_apps.0'],
        ['POST', '/v1/admin/agents', { id: 'ok-agent', default_ttl_ms: -1 }, 'default_ttl_ms'],
        ['PATCH', '/v1/admin/agents/athena', { max_in_flight: 1.5 }, 'max_in_flight'],
        ['PUT', '/v1/admin/agents/athena/allowlist', {}, 'apps'],
        ['PUT', '/v1/admin/agents/athena/allowlist', { apps: ['Portal!'] }, 'apps.0'],
        ['POST', '/v1/admin/apps/portal/tokens', { name: 'x' }, 'name'],
      ] as const) {
        const answer = await api1(method, path, body);
        expect([method, path, answer.status, answer.body.error?.code]).toEqual([method, path, 400, 'invalid_body']);
        if (field) expect(answer.body.error.field).toBe(field);
      }
      // nothing was created by any of them
      expect((await api1('GET', '/v1/admin/apps/ok-app')).status).toBe(404);
      expect((await api1('GET', '/v1/admin/agents/ok-agent')).status).toBe(404);
    });

    test('bad JSON is 400 invalid_json', async () => {
      for (const raw of ['{', '{"id": "x",}', 'not json', '\u0000']) {
        const answer = await api1('POST', '/v1/admin/apps', undefined, raw);
        expect([raw, answer.status, answer.body.error?.code]).toEqual([raw, 400, 'invalid_json']);
      }
    });

    test('ids that break the protocol patterns are refused with 400', async () => {
      expect((await api1('POST', '/v1/admin/apps', { id: 'Has Caps' })).body.error).toMatchObject({ code: 'invalid_body', field: 'id' });
      expect((await api1('POST', '/v1/admin/agents', { id: '-leading' })).body.error).toMatchObject({ code: 'invalid_body', field: 'id' });
      expect((await api1('POST', '/v1/admin/agents', { id: 'x'.repeat(65) })).body.error).toMatchObject({ field: 'id' });
      for (const path of ['/v1/admin/apps/BAD', '/v1/admin/agents/a%20b', '/v1/admin/apps/Portal/tokens', '/v1/admin/events/not-an-event']) {
        const answer = await api1('GET', path);
        expect([path, answer.status, answer.body.error?.code]).toEqual([path, 400, 'invalid_id']);
      }
      expect((await api1('DELETE', '/v1/admin/apps/portal/tokens/XYZ')).status).toBe(400);
    });

    test('duplicates are 409', async () => {
      expect(await api1('POST', '/v1/admin/apps', { id: 'portal' })).toMatchObject({ status: 409, body: { error: { code: 'already_exists', field: 'id' } } });
      expect(await api2('POST', '/v1/admin/agents', { id: 'athena' })).toMatchObject({ status: 409, body: { error: { code: 'already_exists' } } });
    });

    test('a method a route does not take is 405 with Allow; a huge body is 413', async () => {
      const answer = await api1('DELETE', '/v1/admin/apps');
      expect(answer.status).toBe(405);
      expect(answer.headers.get('allow')).toBe('GET, POST');
      const huge = await api1('POST', '/v1/admin/apps', { id: 'big', name: 'x'.repeat(70_000) });
      expect(huge).toMatchObject({ status: 413, body: { error: { code: 'body_too_large' } } });
    });
  });

  test('admin changes survive restarting every node; the registry file only seeded the first start', async () => {
    const agentId = id('durable');
    await api1('POST', '/v1/admin/agents', { id: agentId, allow_apps: ['portal'] });
    await api1('DELETE', '/v1/admin/agents/klyve');
    const codes = await Promise.all(nodes.map((n) => n.stop()));
    expect(codes).toEqual([0, 0]);
    nodes = [await startRelay({ registry, env })];
    const api = adminApi(node(1).httpUrl);
    expect((await api('GET', `/v1/admin/agents/${agentId}`)).status).toBe(200);
    expect((await api('GET', '/v1/admin/agents/klyve')).status).toBe(404); // not brought back by the file
    expect(await refusal(node(1), 'agent', tokens.klyve)).toBe(401);
  });
});

describe('file registry mode', () => {
  test('the admin API reads the registry but refuses changes (409): the file owns it', async () => {
    const { registry } = testRegistry();
    const relay = await startRelay({ registry, env: { RELAY_ADMIN_TOKEN: ADMIN_TOKEN } });
    try {
      const api = adminApi(relay.httpUrl);
      expect((await api('GET', '/v1/admin/agents')).body.agents.map((a: Frame) => a.id)).toEqual(['athena', 'klyve']);
      for (const [method, path, body] of [
        ['POST', '/v1/admin/apps', { id: 'new-app' }],
        ['PATCH', '/v1/admin/agents/athena', { name: 'x' }],
        ['PUT', '/v1/admin/agents/athena/allowlist', { apps: [] }],
        ['DELETE', '/v1/admin/apps/portal'],
        ['POST', '/v1/admin/apps/portal/tokens', undefined],
        ['PATCH', '/v1/admin/apps/portal', { webhook_url: 'https://example.com/hook' }],
        ['POST', '/v1/admin/agents/athena/webhook-secret', {}],
      ] as const) {
        const answer = await api(method, path, body);
        expect([method, path, answer.status, answer.body.error?.code]).toEqual([method, path, 409, 'registry_read_only']);
      }
    } finally {
      expect(await relay.stop()).toBe(0);
    }
  });
});
