import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { backendsUnderTest } from '../support/backends';
import { UpgradeRefused, eventFrame, type TestClient } from '../support/client';
import { useRelay } from '../support/relay-fixture';
import { metricSum, rawUpgrade, scrape } from '../support/wire-probe';

const sha256 = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');

// single node: this suite reads one node's /metrics
describe.each(backendsUnderTest({ singleNode: true }))('upgrade authentication ($name backend)', (backend) => {
  // flow and klyve are written to the registry file only as hashes (klyve in upper-case hex).
  const r = useRelay(backend, {
    registry: (tokens) => ({
      apps: { flow: { tokens: [`sha256:${sha256(tokens.flow)}`] } },
      agents: { klyve: { tokens: [`sha256:${sha256(tokens.klyve).toUpperCase()}`] } },
    }),
  });

  /** The HTTP status of a refused upgrade; fails the test if the socket opened. */
  const refusal = async (...args: Parameters<typeof r.connectAs>): Promise<number> => {
    try {
      await r.connectAs(...args);
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

  test('Authorization: Bearer header authenticates an app and an agent', async () => {
    await expectUsable(await r.connect('portal'));
    await expectUsable(await r.connect('athena'));
  });

  test('?token= in the query string authenticates an app and an agent', async () => {
    await expectUsable(await r.connect('portal', { queryToken: true }));
    await expectUsable(await r.connect('athena', { queryToken: true }));
  });

  test('the authenticated identity is the token owner: events come from that app', async () => {
    const agent = await r.connect('athena', { queryToken: true });
    const app = await r.connect('portal', { queryToken: true });
    app.send(eventFrame());
    const accepted = await app.nextOf('accepted');
    expect(await agent.nextOf('event', accepted.event_id)).toMatchObject({ app_id: 'portal', agent_id: 'athena' });
  });

  test('a missing token gets HTTP 401 on both endpoints', async () => {
    for (const path of ['/v1/ws/app', '/v1/ws/agent']) {
      const answer = await rawUpgrade(r.relay.httpUrl, path);
      expect(answer.status).toBe(401);
    }
    // an empty query token and an Authorization header that is not Bearer are missing tokens too
    expect((await rawUpgrade(r.relay.httpUrl, '/v1/ws/app?token=')).status).toBe(401);
    expect((await rawUpgrade(r.relay.httpUrl, '/v1/ws/app', { Authorization: `Basic ${r.tokens.portal}` })).status).toBe(401);
  });

  test('an unknown token gets HTTP 401', async () => {
    expect(await refusal('app', 'rlk_nobody_0123456789abcdefghijklmn')).toBe(401);
    expect(await refusal('agent', 'rla_nobody_0123456789abcdefghijklmn')).toBe(401);
    expect(await refusal('app', 'not-a-relay-token-at-all')).toBe(401);
    expect(await refusal('app', 'x', { queryToken: true })).toBe(401);
  });

  test('a wrong-role token gets HTTP 401: app token on /v1/ws/agent, agent token on /v1/ws/app', async () => {
    expect(await refusal('agent', r.tokens.portal)).toBe(401);
    expect(await refusal('agent', r.tokens.portal, { queryToken: true })).toBe(401);
    expect(await refusal('app', r.tokens.athena)).toBe(401);
    expect(await refusal('app', r.tokens.athena, { queryToken: true })).toBe(401);
  });

  test('the right prefix with a wrong secret gets HTTP 401', async () => {
    expect(await refusal('app', 'rlk_portal_wrongsecretwrongsecretwrong')).toBe(401);
    expect(await refusal('agent', 'rla_athena_wrongsecretwrongsecretwrong')).toBe(401);
    // a real token with one character changed, or cut short, or extended
    const flipped = r.tokens.portal.slice(0, -1) + (r.tokens.portal.endsWith('a') ? 'b' : 'a');
    expect(await refusal('app', flipped)).toBe(401);
    expect(await refusal('app', r.tokens.portal.slice(0, -1))).toBe(401);
    expect(await refusal('app', `${r.tokens.portal}x`)).toBe(401);
  });

  test('a 401 is a JSON body that names the problem and does not echo the token', async () => {
    const missing = await rawUpgrade(r.relay.httpUrl, '/v1/ws/app');
    const wrong = await rawUpgrade(r.relay.httpUrl, '/v1/ws/app', { Authorization: `Bearer ${r.tokens.athena}` });
    for (const answer of [missing, wrong]) {
      expect(answer.status).toBe(401);
      expect(answer.headers['content-type']).toMatch(/^application\/json/);
      expect(answer.headers.upgrade).toBeUndefined();
      const body = JSON.parse(answer.body) as { error: { code: unknown; message: unknown } };
      expect(typeof body.error.code).toBe('string');
      expect(typeof body.error.message).toBe('string');
      expect(answer.body).not.toContain(r.tokens.athena);
    }
  });

  test('a good token over a raw upgrade gets 101', async () => {
    const answer = await rawUpgrade(r.relay.httpUrl, '/v1/ws/app', { Authorization: `Bearer ${r.tokens.portal}` });
    expect(answer.status).toBe(101);
  });

  test('a client offering relay-app / relay-agent gets it selected and echoed', async () => {
    const app = await r.connect('portal', { subprotocols: ['relay-app'] });
    expect(app.ws.protocol).toBe('relay-app');
    await expectUsable(app);
    const agent = await r.connect('athena', { subprotocols: ['relay-agent'] });
    expect(agent.ws.protocol).toBe('relay-agent');
    await expectUsable(agent);
    // among several offers, the relay's own is picked
    const picky = await r.connect('portal', { subprotocols: ['chat', 'relay-app'] });
    expect(picky.ws.protocol).toBe('relay-app');
  });

  test('a client offering no subprotocol connects with protocol ""', async () => {
    const app = await r.connect('portal');
    expect(app.ws.protocol).toBe('');
    await expectUsable(app);
    const agent = await r.connect('athena', { queryToken: true });
    expect(agent.ws.protocol).toBe('');
    await expectUsable(agent);
  });

  test('a subprotocol is never selected for the wrong endpoint', async () => {
    const answer = await rawUpgrade(r.relay.httpUrl, '/v1/ws/agent', {
      Authorization: `Bearer ${r.tokens.athena}`,
      'Sec-WebSocket-Protocol': 'relay-app',
    });
    expect(answer.status).toBe(101);
    expect(answer.headers['sec-websocket-protocol']).toBeUndefined();
  });

  test('sha256:<hex> tokens in the registry authenticate (lower- and upper-case hex)', async () => {
    const flow = await r.connect('flow');
    await expectUsable(flow);
    const klyve = await r.connect('klyve', { queryToken: true });
    await expectUsable(klyve);
    // and they carry their owner's identity: flow is allowlisted for athena, not klyve
    flow.send(eventFrame({ agent_id: 'klyve', ref: 'k' }));
    expect(await flow.nextOf('error')).toMatchObject({ code: 'ALLOWLIST_DENIED', ref: 'k' });
  });

  test('the hash itself is not a token', async () => {
    expect(await refusal('app', `sha256:${sha256(r.tokens.flow)}`)).toBe(401);
    expect(await refusal('app', sha256(r.tokens.flow))).toBe(401);
    expect(await refusal('app', `sha256:${sha256(r.tokens.portal)}`)).toBe(401);
  });

  test('relay_upgrades_rejected_total counts every refusal', async () => {
    const before = metricSum(await scrape(r.relay.httpUrl), 'relay_upgrades_rejected_total');
    expect((await rawUpgrade(r.relay.httpUrl, '/v1/ws/app')).status).toBe(401);
    expect(await refusal('app', 'rlk_portal_nope')).toBe(401);
    expect(await refusal('agent', r.tokens.portal)).toBe(401);
    const text = await scrape(r.relay.httpUrl);
    expect(metricSum(text, 'relay_upgrades_rejected_total')).toBe(before + 3);
    // and accepted upgrades are not counted as refusals
    await r.connect('portal');
    expect(metricSum(await scrape(r.relay.httpUrl), 'relay_upgrades_rejected_total')).toBe(before + 3);
  });
});

describe('a registry file with a short secret', () => {
  test('stops the node at start-up with an error naming the principal, never the secret', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'relay-short-secret-'));
    const file = path.join(dir, 'registry.json');
    const short = 'rla_athena_eighteen-chars-xyz';
    expect(short.length - 'rla_athena_'.length).toBe(18);
    writeFileSync(file, JSON.stringify({ agents: [{ id: 'athena', tokens: [short] }] }));
    const main = path.resolve(__dirname, '../../packages/gateway/dist/main.js');
    const child = spawn(process.execPath, [main], {
      env: { PATH: process.env.PATH ?? '', PORT: '0', HOST: '127.0.0.1', RELAY_CONFIG: file },
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toContain('agent "athena" has a secret of 18 characters; secrets need at least 22');
    expect(stderr).not.toContain(short);
  });
});
