import { adminApi, type Api } from '../support/admin';
import { TestClient, eventFrame, type Frame } from '../support/client';
import { send, sleep } from '../support/lifecycle';
import { startRedis, type RedisUnderTest } from '../support/redis-server';
import { startRelay, type RelayProcess } from '../support/relay-process';
import { testRegistry } from '../support/registry';
import { ACTIVITY_ENV as ENV, drive, PAYLOAD_MARKER, type Traffic } from './activity-traffic';

/**
 * The Dashboard's activity endpoints with real traffic: an answered event with tokens, an agent
 * timeout, an expiry and an event still waiting. On the memory backend (one node), and on two
 * nodes sharing Redis, where the agent is on one node and the apps on the other, and both nodes
 * answer with the same view.
 */

/** Polls the overview until every node has flushed what the traffic counted. */
async function settledOverview(api: Api): Promise<Frame> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const { status, body } = await api('GET', '/v1/admin/activity');
    expect(status).toBe(200);
    const t = body.totals;
    const rows = (await api('GET', '/v1/admin/activity/events')).body.events as Frame[];
    const ended = rows.filter((r) => r.outcome !== null).length;
    if (t.accepted === 4 && t.answered === 1 && t.failed.AGENT_TIMEOUT === 1 && t.failed.EVENT_EXPIRED === 1 && rows.length === 4 && ended === 3) return body;
    if (Date.now() > deadline) throw new Error(`activity never settled: ${JSON.stringify(t)}, ${rows.length} rows`);
    await sleep(200);
  }
}

function checkOverview(body: Frame): void {
  expect(body.minutes).toBe(60);
  expect(body.series.minute).toHaveLength(60);
  expect(body.series.accepted.reduce((a: number, b: number) => a + b, 0)).toBe(4);
  expect(Object.keys(body.series.failed).sort()).toEqual(['AGENT_TIMEOUT', 'EVENT_EXPIRED']);
  expect(body.series.tokens_per_s.some((v: number) => v > 0)).toBe(true);
  const athena = body.agents.find((a: Frame) => a.agent_id === 'athena');
  expect(athena).toMatchObject({ accepted: 2, answered: 1, failed: 1, tokens: 3, waiting: 0, in_flight: 0, connections: 1 });
  expect(athena.time_to_first_token_ms).toMatchObject({ p50: expect.any(Number), p95: expect.any(Number), count: 1 });
  expect(athena.time_to_reply_ms).toMatchObject({ count: 1 });
  expect(athena.time_to_first_token_ms.p50).toBeLessThanOrEqual(athena.time_to_reply_ms.p95);
  const klyve = body.agents.find((a: Frame) => a.agent_id === 'klyve');
  expect(klyve).toMatchObject({ accepted: 2, answered: 0, failed: 1, waiting: 1, connections: 0, time_to_first_token_ms: null });
  expect(body.connections).toMatchObject({ total: 3, by_app: { portal: 1, flow: 1 }, by_agent: { athena: 1 } });
  expect(Object.values(body.connections.by_node).reduce((a: number, b) => a + (b as number), 0)).toBe(3);
}

async function checkEvents(api: Api, traffic: Traffic): Promise<void> {
  const all = await api('GET', '/v1/admin/activity/events');
  expect(JSON.stringify(all.body)).not.toContain(PAYLOAD_MARKER);
  // Newest accept first.
  expect(all.body.events.map((e: Frame) => e.event_id)).toEqual([traffic.waiting, traffic.expired, traffic.timedOut, traffic.answered]);
  const byId = Object.fromEntries(all.body.events.map((e: Frame) => [e.event_id, e]));
  expect(byId[traffic.answered]).toMatchObject({
    app_id: 'portal',
    agent_id: 'athena',
    thread_id: 'portal:t:1',
    state: 'finished',
    outcome: 'reply_stop',
    attempt: 1,
    latencies_ms: { delivered: expect.any(Number), first_token: expect.any(Number), final: expect.any(Number) },
  });
  expect(byId[traffic.timedOut]).toMatchObject({ app_id: 'flow', state: 'finished', outcome: 'AGENT_TIMEOUT', latencies_ms: { first_token: null } });
  expect(byId[traffic.expired]).toMatchObject({ agent_id: 'klyve', state: 'finished', outcome: 'EVENT_EXPIRED', attempt: 0 });
  expect(byId[traffic.waiting]).toMatchObject({ agent_id: 'klyve', state: 'waiting', outcome: null, latencies_ms: { delivered: null, final: null } });

  const ids = async (query: string) => (await api('GET', `/v1/admin/activity/events?${query}`)).body.events.map((e: Frame) => e.event_id);
  expect(await ids('app=flow')).toEqual([traffic.timedOut]);
  expect(await ids('agent=klyve')).toEqual([traffic.waiting, traffic.expired]);
  expect(await ids('outcome=failed')).toEqual([traffic.expired, traffic.timedOut]);
  expect(await ids('outcome=answered')).toEqual([traffic.answered]);
  expect(await ids('outcome=open')).toEqual([traffic.waiting]);
  expect(await ids('outcome=AGENT_TIMEOUT&app=flow')).toEqual([traffic.timedOut]);
  expect(await ids('limit=1')).toEqual([traffic.waiting]);
  const answeredAt = byId[traffic.answered].accepted_at as string;
  expect(await ids(`until=${encodeURIComponent(answeredAt)}`)).toEqual([traffic.answered]);
  expect(await ids(`since=${Date.parse(answeredAt) + 1}`)).not.toContain(traffic.answered);
  expect(await ids(`since=${Date.now() + 60_000}`)).toEqual([]);
}

async function checkAgent(api: Api, traffic: Traffic): Promise<void> {
  const { status, body } = await api('GET', '/v1/admin/activity/agents/athena');
  expect(status).toBe(200);
  expect(body.connections.socket).toHaveLength(1);
  expect(body.connections.socket[0]).toMatchObject({ role: 'agent', id: 'athena' });
  expect(body.connections.http).toEqual([]);
  expect(body).toMatchObject({ waiting: 0, in_flight: 0, accepted: 2, answered: 1, failed: { AGENT_TIMEOUT: 1 }, tokens: 3 });
  expect(body.recent_failures.map((e: Frame) => [e.event_id, e.outcome])).toEqual([[traffic.timedOut, 'AGENT_TIMEOUT']]);
  expect(body.latency.minute).toHaveLength(60);
  // The last hour, minute by minute: the traffic's minute has a first-token time, empty ones null.
  expect(body.latency.first_token_p50.filter((v: number | null) => v !== null).length).toBeGreaterThanOrEqual(1);
  expect(body.latency.first_token_p50[0]).toBeNull();

  const klyve = await api('GET', '/v1/admin/activity/agents/klyve');
  expect(klyve.body).toMatchObject({ waiting: 1, in_flight: 0, connections: { socket: [], http: [] } });
  expect(klyve.body.recent_failures.map((e: Frame) => e.outcome)).toEqual(['EVENT_EXPIRED']);
  expect(klyve.body.open_events.map((e: Frame) => [e.event_id, e.state])).toEqual([[traffic.waiting, 'waiting']]);
  expect(body.open_events).toEqual([]);
}

async function checkRefusals(api: Api): Promise<void> {
  for (const [path, field] of [
    ['/v1/admin/activity?minutes=0', 'minutes'],
    ['/v1/admin/activity?minutes=abc', 'minutes'],
    ['/v1/admin/activity/events?limit=0', 'limit'],
    ['/v1/admin/activity/events?since=yesterday', 'since'],
    ['/v1/admin/activity/events?app=Not%20An%20Id', 'app'],
    ['/v1/admin/activity/events?outcome=%3Cscript%3E', 'outcome'],
    ['/v1/admin/activity/agents/athena?minutes=5000', 'minutes'],
  ] as const) {
    const answer = await api('GET', path);
    expect([path, answer.status, answer.body.error?.code, answer.body.error?.field]).toEqual([path, 400, 'invalid_query', field]);
  }
  expect(await api('GET', '/v1/admin/activity/agents/nobody')).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
}

describe('activity on the memory backend', () => {
  let relay: RelayProcess;
  const { registry, tokens } = testRegistry();
  const clients: TestClient[] = [];

  beforeAll(async () => {
    relay = await startRelay({ registry, env: ENV });
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    expect(clients.flatMap((c) => c.invalid)).toEqual([]);
    if (relay) expect(await relay.stop()).toBe(0);
  });

  test('the overview, the recent events and the per-agent view show the traffic; bad queries are 400', async () => {
    const api = adminApi(relay.httpUrl);
    const traffic = await drive(relay, relay, tokens, clients);
    checkOverview(await settledOverview(api));
    await checkEvents(api, traffic);
    await checkAgent(api, traffic);
    await checkRefusals(api);
  });

  test('RELAY_RECENT_EVENTS_MAX bounds the list: only the newest events are kept', async () => {
    const small = await startRelay({ registry, env: { ...ENV, RELAY_RECENT_EVENTS_MAX: '2' } });
    try {
      const app = await TestClient.connect(small.url, 'app', tokens.portal);
      clients.push(app);
      const ids: string[] = [];
      for (const thread of ['a', 'b', 'c']) {
        ids.push((await send(app, eventFrame({ agent_id: 'klyve', thread_id: `portal:${thread}` }))).event_id);
        // Apart by a millisecond at least: within one, the list orders by id, not by arrival.
        await sleep(3);
      }
      const api = adminApi(small.httpUrl);
      const deadline = Date.now() + 10_000;
      let listed: string[] = [];
      while (!listed.includes(ids[2] as string) && Date.now() < deadline) {
        await sleep(100);
        listed = (await api('GET', '/v1/admin/activity/events')).body.events.map((e: Frame) => e.event_id);
      }
      expect(listed).toEqual([ids[2], ids[1]]);
      // The counts are not rows: all three are counted.
      expect((await api('GET', '/v1/admin/activity')).body.totals.accepted).toBe(3);
    } finally {
      expect(await small.stop()).toBe(0);
    }
  });
});

describe('activity on two nodes sharing Redis', () => {
  let redis: RedisUnderTest;
  let nodes: RelayProcess[] = [];
  const { registry, tokens } = testRegistry();
  const clients: TestClient[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    const env = { ...ENV, REDIS_URL: redis.url, RELAY_REDIS_PREFIX: redis.prefix };
    nodes = await Promise.all([startRelay({ registry, env }), startRelay({ registry, env })]);
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    expect(clients.flatMap((c) => c.invalid)).toEqual([]);
    const codes = await Promise.all(nodes.map((n) => n.stop()));
    await redis?.stop();
    expect(codes).toEqual(nodes.map(() => 0));
  });

  test('either node answers with the same cluster-wide view of traffic that crossed both', async () => {
    const [one, two] = nodes as [RelayProcess, RelayProcess];
    const traffic = await drive(two, one, tokens, clients);
    const apis = [adminApi(one.httpUrl), adminApi(two.httpUrl)];
    const views = [await settledOverview(apis[0] as Api), await settledOverview(apis[1] as Api)];
    for (const view of views) checkOverview(view);
    // Both nodes hold connections, and the counts of both are in one view.
    expect(Object.keys(views[0]?.connections.by_node ?? {})).toHaveLength(2);
    // Not the per-minute series by position: a minute may turn between the two reads.
    const same = (v: Frame) => ({ totals: v.totals, agents: v.agents, connections: v.connections });
    expect(same(views[1] as Frame)).toEqual(same(views[0] as Frame));
    for (const api of apis) {
      await checkEvents(api, traffic);
      await checkAgent(api, traffic);
    }
    expect((await (apis[1] as Api)('GET', '/v1/admin/activity/events')).body).toEqual((await (apis[0] as Api)('GET', '/v1/admin/activity/events')).body);
  });
});
