import { createHash } from 'node:crypto';
import { backendsUnderTest } from '../support/backends';
import { TestClient, UpgradeRefused, eventFrame } from '../support/client';
import { startRelay, type RelayProcess } from '../support/relay-process';
import { testRegistry } from '../support/registry';
import { metricSum, rawUpgrade, scrape } from '../support/wire-probe';

const sha256 = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');

// single node: this suite reads one node's /metrics
describe.each(backendsUnderTest({ singleNode: true }))('upgrade authentication ($name backend)', (backend) => {
  let relay: RelayProcess;
  const plain = testRegistry();
  const { tokens } = plain;
  // flow and klyve are written to the registry file only as hashes (klyve in upper-case hex).
  const { registry } = testRegistry({
    apps: { flow: { tokens: [`sha256:${sha256(tokens.flow)}`] } },
    agents: { klyve: { tokens: [`sha256:${sha256(tokens.klyve).toUpperCase()}`] } },
  });
  for (const app of registry.apps) if (app.id !== 'flow') app.tokens = [tokens[app.id as keyof typeof tokens]];
  for (const agent of registry.agents) if (agent.id !== 'klyve') agent.tokens = [tokens[agent.id as keyof typeof tokens]];

  const clients: TestClient[] = [];
  const connect = async (...args: Parameters<typeof TestClient.connect>) => {
    const client = await TestClient.connect(...args);
    clients.push(client);
    return client;
  };
  /** The HTTP status of a refused upgrade; fails the test if the socket opened. */
  const refusal = async (...args: Parameters<typeof TestClient.connect>): Promise<number> => {
    try {
      clients.push(await TestClient.connect(...args));
    } catch (err) {
      if (err instanceof UpgradeRefused) return err.status;
      throw err;
    }
    throw new Error('the upgrade was accepted');
  };
  /** A socket that works: JSON ping answered with pong. */
  const expectUsable = async (client: TestClient) => {
    client.send({ type: 'ping', ref: 'alive' });
    expect(await client.nextOf('pong')).toEqual({ type: 'pong', ref: 'alive' });
    expect(client.invalid).toEqual([]);
  };

  beforeAll(async () => {
    relay = await startRelay({ registry, env: await backend.env() });
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });
  afterAll(async () => {
    expect(await relay.stop()).toBe(0);
    await backend.teardown();
  });

  test('Authorization: Bearer header authenticates an app and an agent', async () => {
    await expectUsable(await connect(relay.url, 'app', tokens.portal));
    await expectUsable(await connect(relay.url, 'agent', tokens.athena));
  });

  test('?token= in the query string authenticates an app and an agent', async () => {
    await expectUsable(await connect(relay.url, 'app', tokens.portal, { queryToken: true }));
    await expectUsable(await connect(relay.url, 'agent', tokens.athena, { queryToken: true }));
  });

  test('the authenticated identity is the token owner: events come from that app', async () => {
    const agent = await connect(relay.url, 'agent', tokens.athena, { queryToken: true });
    const app = await connect(relay.url, 'app', tokens.portal, { queryToken: true });
    app.send(eventFrame());
    const accepted = await app.nextOf('accepted');
    expect(await agent.nextOf('event', accepted.event_id)).toMatchObject({ app_id: 'portal', agent_id: 'athena' });
  });

  test('a missing token gets HTTP 401 on both endpoints', async () => {
    for (const path of ['/v1/ws/app', '/v1/ws/agent']) {
      const answer = await rawUpgrade(relay.httpUrl, path);
      expect(answer.status).toBe(401);
    }
    // an empty query token and an Authorization header that is not Bearer are missing tokens too
    expect((await rawUpgrade(relay.httpUrl, '/v1/ws/app?token=')).status).toBe(401);
    expect((await rawUpgrade(relay.httpUrl, '/v1/ws/app', { Authorization: `Basic ${tokens.portal}` })).status).toBe(401);
  });

  test('an unknown token gets HTTP 401', async () => {
    expect(await refusal(relay.url, 'app', 'rlk_nobody_0123456789abcdefghijklmn')).toBe(401);
    expect(await refusal(relay.url, 'agent', 'rla_nobody_0123456789abcdefghijklmn')).toBe(401);
    expect(await refusal(relay.url, 'app', 'not-a-relay-token-at-all')).toBe(401);
    expect(await refusal(relay.url, 'app', 'x', { queryToken: true })).toBe(401);
  });

  test('a wrong-role token gets HTTP 401: app token on /v1/ws/agent, agent token on /v1/ws/app', async () => {
    expect(await refusal(relay.url, 'agent', tokens.portal)).toBe(401);
    expect(await refusal(relay.url, 'agent', tokens.portal, { queryToken: true })).toBe(401);
    expect(await refusal(relay.url, 'app', tokens.athena)).toBe(401);
    expect(await refusal(relay.url, 'app', tokens.athena, { queryToken: true })).toBe(401);
  });

  test('the right prefix with a wrong secret gets HTTP 401', async () => {
    expect(await refusal(relay.url, 'app', 'rlk_portal_wrongsecretwrongsecretwrong')).toBe(401);
    expect(await refusal(relay.url, 'agent', 'rla_athena_wrongsecretwrongsecretwrong')).toBe(401);
    // a real token with one character changed, or cut short, or extended
    const flipped = tokens.portal.slice(0, -1) + (tokens.portal.endsWith('a') ? 'b' : 'a');
    expect(await refusal(relay.url, 'app', flipped)).toBe(401);
    expect(await refusal(relay.url, 'app', tokens.portal.slice(0, -1))).toBe(401);
    expect(await refusal(relay.url, 'app', `${tokens.portal}x`)).toBe(401);
  });

  test('a 401 is a JSON body that names the problem and does not echo the token', async () => {
    const missing = await rawUpgrade(relay.httpUrl, '/v1/ws/app');
    const wrong = await rawUpgrade(relay.httpUrl, '/v1/ws/app', { Authorization: `Bearer ${tokens.athena}` });
    for (const answer of [missing, wrong]) {
      expect(answer.status).toBe(401);
      expect(answer.headers['content-type']).toMatch(/^application\/json/);
      expect(answer.headers.upgrade).toBeUndefined();
      const body = JSON.parse(answer.body) as { error: { code: unknown; message: unknown } };
      expect(typeof body.error.code).toBe('string');
      expect(typeof body.error.message).toBe('string');
      expect(answer.body).not.toContain(tokens.athena);
    }
  });

  test('a good token over a raw upgrade gets 101', async () => {
    const answer = await rawUpgrade(relay.httpUrl, '/v1/ws/app', { Authorization: `Bearer ${tokens.portal}` });
    expect(answer.status).toBe(101);
  });

  test('a client offering relay-app / relay-agent gets it selected and echoed', async () => {
    const app = await connect(relay.url, 'app', tokens.portal, { subprotocols: ['relay-app'] });
    expect(app.ws.protocol).toBe('relay-app');
    await expectUsable(app);
    const agent = await connect(relay.url, 'agent', tokens.athena, { subprotocols: ['relay-agent'] });
    expect(agent.ws.protocol).toBe('relay-agent');
    await expectUsable(agent);
    // among several offers, the relay's own is picked
    const picky = await connect(relay.url, 'app', tokens.portal, { subprotocols: ['chat', 'relay-app'] });
    expect(picky.ws.protocol).toBe('relay-app');
  });

  test('a client offering no subprotocol connects with protocol ""', async () => {
    const app = await connect(relay.url, 'app', tokens.portal);
    expect(app.ws.protocol).toBe('');
    await expectUsable(app);
    const agent = await connect(relay.url, 'agent', tokens.athena, { queryToken: true });
    expect(agent.ws.protocol).toBe('');
    await expectUsable(agent);
  });

  test('a subprotocol is never selected for the wrong endpoint', async () => {
    const answer = await rawUpgrade(relay.httpUrl, '/v1/ws/agent', {
      Authorization: `Bearer ${tokens.athena}`,
      'Sec-WebSocket-Protocol': 'relay-app',
    });
    expect(answer.status).toBe(101);
    expect(answer.headers['sec-websocket-protocol']).toBeUndefined();
  });

  test('sha256:<hex> tokens in the registry authenticate (lower- and upper-case hex)', async () => {
    const flow = await connect(relay.url, 'app', tokens.flow);
    await expectUsable(flow);
    const klyve = await connect(relay.url, 'agent', tokens.klyve, { queryToken: true });
    await expectUsable(klyve);
    // and they carry their owner's identity: flow is allowlisted for athena, not klyve
    flow.send(eventFrame({ agent_id: 'klyve', ref: 'k' }));
    expect(await flow.nextOf('error')).toMatchObject({ code: 'ALLOWLIST_DENIED', ref: 'k' });
  });

  test('the hash itself is not a token', async () => {
    expect(await refusal(relay.url, 'app', `sha256:${sha256(tokens.flow)}`)).toBe(401);
    expect(await refusal(relay.url, 'app', sha256(tokens.flow))).toBe(401);
    expect(await refusal(relay.url, 'app', `sha256:${sha256(tokens.portal)}`)).toBe(401);
  });

  test('relay_upgrades_rejected_total counts every refusal', async () => {
    const before = metricSum(await scrape(relay.httpUrl), 'relay_upgrades_rejected_total');
    expect((await rawUpgrade(relay.httpUrl, '/v1/ws/app')).status).toBe(401);
    expect(await refusal(relay.url, 'app', 'rlk_portal_nope')).toBe(401);
    expect(await refusal(relay.url, 'agent', tokens.portal)).toBe(401);
    const text = await scrape(relay.httpUrl);
    expect(metricSum(text, 'relay_upgrades_rejected_total')).toBe(before + 3);
    // and accepted upgrades are not counted as refusals
    await connect(relay.url, 'app', tokens.portal);
    expect(metricSum(await scrape(relay.httpUrl), 'relay_upgrades_rejected_total')).toBe(before + 3);
  });
});
