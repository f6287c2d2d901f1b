/** `relay apps|agents|tokens …` run as a user runs it: the built CLI against a real node. */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { ADMIN_TOKEN } from '../support/admin';
import { TestClient, UpgradeRefused } from '../support/client';
import { startRelay, type RelayProcess } from '../support/relay-process';
import { testRegistry } from '../support/registry';

const MAIN = path.resolve(__dirname, '../../packages/gateway/dist/main.js');

describe('the relay CLI over the admin API', () => {
  let relay: RelayProcess;
  const { registry } = testRegistry();

  beforeAll(async () => {
    relay = await startRelay({ registry, env: { RELAY_ADMIN_TOKEN: ADMIN_TOKEN, RELAY_REGISTRY_MODE: 'admin' } });
  });
  afterAll(async () => {
    expect(await relay.stop()).toBe(0);
  });

  const cli = (args: string[], env: Record<string, string> = {}) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [MAIN, ...args],
        { env: { PATH: process.env.PATH ?? '', RELAY_URL: relay.url, RELAY_ADMIN_TOKEN: ADMIN_TOKEN, ...env }, timeout: 10_000 },
        (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
      );
    });

  test('webhooks: --webhook-url sets it (none removes it), webhook-secret prints a new secret once', async () => {
    const set = await cli(['apps', 'update', 'flow', '--webhook-url', 'https://hooks.example.com/relay']);
    expect(set).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(set.stdout)).toMatchObject({ id: 'flow', webhook_url: 'https://hooks.example.com/relay', webhook_secret_set: false });
    const secret = await cli(['apps', 'webhook-secret', 'flow', '--secret-only']);
    expect(secret.code).toBe(0);
    expect(secret.stdout.trim()).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const shown = await cli(['agents', 'webhook-secret', 'klyve']);
    expect(JSON.parse(shown.stdout)).toMatchObject({ agent_id: 'klyve', webhook_secret: expect.stringMatching(/^whsec_/) });
    expect(JSON.parse((await cli(['apps', 'get', 'flow'])).stdout)).toMatchObject({ webhook_secret_set: true });
    expect(JSON.parse((await cli(['apps', 'update', 'flow', '--webhook-url', 'none'])).stdout)).toMatchObject({ webhook_url: null });
    expect(await cli(['apps', 'update', 'flow', '--webhook-url', 'ftp://x'])).toMatchObject({ code: 1, stderr: expect.stringContaining('webhook_url') });
  });

  test('create an agent, issue a token a socket then uses, list, revoke: JSON out, exit 0', async () => {
    const created = await cli(['agents', 'create', 'zeus', '--name', 'Zeus', '--allow', 'portal,flow', '--max-in-flight=3']);
    expect(created).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(created.stdout)).toMatchObject({ id: 'zeus', name: 'Zeus', allow_apps: ['portal', 'flow'], max_in_flight: 3 });

    const issued = await cli(['tokens', 'issue', 'agent', 'zeus', '--secret-only']);
    expect(issued.code).toBe(0);
    const secret = issued.stdout.trim();
    expect(secret).toMatch(/^rla_zeus_[A-Za-z0-9]{32}$/);
    const agent = await TestClient.connect(relay.url, 'agent', secret);

    const listed = JSON.parse((await cli(['tokens', 'list', 'agent', 'zeus'])).stdout);
    expect(listed.tokens).toHaveLength(1);
    const tokenId = listed.tokens[0].id as string;
    expect(listed.tokens[0].last_used_at).toEqual(expect.any(String));

    expect(JSON.parse((await cli(['agents', 'allowlist', 'zeus', 'portal'])).stdout)).toEqual({ agent_id: 'zeus', apps: ['portal'] });
    expect(JSON.parse((await cli(['connections', '--role', 'agent'])).stdout).connections).toEqual([
      expect.objectContaining({ role: 'agent', id: 'zeus', token_id: tokenId }),
    ]);
    expect(JSON.parse((await cli(['queues'])).stdout).queues.map((q: { agent_id: string }) => q.agent_id)).toContain('zeus');

    const revoked = await cli(['tokens', 'revoke', 'agent', 'zeus', tokenId]);
    expect(revoked.code).toBe(0);
    expect((await agent.closed).code).toBe(1008);
    await expect(TestClient.connect(relay.url, 'agent', secret)).rejects.toBeInstanceOf(UpgradeRefused);

    const rotatedFrom = JSON.parse((await cli(['tokens', 'issue', 'app', 'academy'])).stdout).id as string;
    const rotated = await cli(['tokens', 'rotate', 'app', 'academy', rotatedFrom, '--grace', '60']);
    expect(JSON.parse(rotated.stdout)).toMatchObject({ token: expect.stringMatching(/^rlk_academy_/), replaces: { id: rotatedFrom } });

    expect(JSON.parse((await cli(['agents', 'delete', 'zeus'])).stdout)).toMatchObject({ id: 'zeus', deleted: true });
    expect(JSON.parse((await cli(['apps', 'update', 'flow', '--rate-limit', '50'])).stdout)).toMatchObject({ rate_limit_per_min: 50, hard_rate_limit_per_min: 100 });
  });

  test("the relay's refusals: its code and message on stderr, exit 1", async () => {
    expect(await cli(['agents', 'get', 'nobody'])).toMatchObject({ code: 1, stdout: '', stderr: 'relay: not_found: No agent "nobody" (HTTP 404)\n' });
    const invalid = await cli(['apps', 'create', 'Bad Id']);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(/^relay: invalid_body: id: .* \(HTTP 400\)\n$/);
    const wrong = await cli(['apps', 'list'], { RELAY_ADMIN_TOKEN: 'not-the-admin-token' });
    expect(wrong).toMatchObject({ code: 1, stderr: expect.stringContaining('unauthorized') });
    expect(await cli(['events', 'evt_nothing'])).toMatchObject({ code: 1, stderr: expect.stringContaining('HTTP 404') });
  });

  test('a wrong command line: what is wrong and the usage, exit 2, nothing sent', async () => {
    for (const args of [['apps'], ['apps', 'frobnicate'], ['tokens', 'issue', 'robot', 'x'], ['apps', 'create', 'x', '--colour', 'red'], ['apps', 'create', 'x', '--rate-limit', 'fast']]) {
      const answer = await cli(args);
      expect([args, answer.code]).toEqual([args, 2]);
      expect(answer.stderr).toMatch(/^relay: .+\n\nrelay apps\|agents/);
    }
    expect(await cli(['apps', 'list'], { RELAY_ADMIN_TOKEN: '' })).toMatchObject({ code: 2, stderr: expect.stringContaining('RELAY_ADMIN_TOKEN is not set') });
    expect(await cli(['apps', '--help'])).toMatchObject({ code: 0, stdout: expect.stringContaining('relay tokens rotate') });
  });
});
