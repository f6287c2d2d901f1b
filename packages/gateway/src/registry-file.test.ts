import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { developmentRegistry, readRegistryFile, RegistryFileError, toRegistryData } from './registry-file';
import { hashToken } from './tokens';

/** 22 characters: the shortest secret accepted (128 bits of base64url). */
const SECRET = '0123456789abcdefghijKL';

const dir = mkdtempSync(path.join(tmpdir(), 'registry-file-'));
const write = (name: string, text: string) => {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
};

describe('registry file', () => {
  test('YAML and JSON files give the same registry, with defaults filled in', () => {
    const yaml = write(
      'r.yaml',
      `apps:\n  - id: portal\n    tokens: [rlk_portal_${SECRET}]\nagents:\n  - id: athena\n    tokens: [rla_athena_${SECRET}x]\n    allow_apps: [portal]\n`,
    );
    const json = write(
      'r.json',
      JSON.stringify({
        apps: [{ id: 'portal', tokens: [`rlk_portal_${SECRET}`] }],
        agents: [{ id: 'athena', tokens: [`rla_athena_${SECRET}x`], allow_apps: ['portal'] }],
      }),
    );
    const fromYaml = readRegistryFile(yaml, 5_000);
    expect(fromYaml).toEqual(readRegistryFile(json, 5_000));
    expect(fromYaml.apps[0]).toEqual({
      id: 'portal',
      name: 'portal',
      rateLimitPerMin: 600,
      hardRateLimitPerMin: 1200,
      maxConnections: 10,
      webhookUrl: null,
      webhookSecret: null,
    });
    expect(fromYaml.agents[0]).toMatchObject({ defaultTtlMs: 5_000, maxInFlight: 64, maxQueue: 10_000, description: '' });
  });

  test('holds only hashes: a plain token and its sha256 form are the same token', () => {
    const plain = toRegistryData({ apps: [{ id: 'portal', tokens: [`rlk_portal_${SECRET}`] }] }, 1);
    const hex = hashToken(`rlk_portal_${SECRET}`).toString('hex');
    const hashed = toRegistryData({ apps: [{ id: 'portal', tokens: [`sha256:${hex}`] }] }, 1);
    expect(plain.tokens[0]?.hash.equals(hashed.tokens[0]?.hash as Buffer)).toBe(true);
    expect(JSON.stringify(plain)).not.toContain(`rlk_portal_${SECRET}`);
  });

  test.each([
    ['a token of another app', { apps: [{ id: 'portal', tokens: [`rlk_flow_${SECRET}`] }] }, /rlk_portal_<secret>/],
    ['an agent token on an app', { apps: [{ id: 'portal', tokens: [`rla_portal_${SECRET}`] }] }, /rlk_portal_<secret>/],
    ['a prefix with no secret', { apps: [{ id: 'portal', tokens: ['rlk_portal_'] }] }, /rlk_portal_<secret>/],
    ['a secret of one character', { apps: [{ id: 'portal', tokens: ['rlk_portal_x'] }] }, /app "portal" has a secret of 1 characters; secrets need at least 22/],
    ['a secret one short of 128 bits', { agents: [{ id: 'athena', tokens: [`rla_athena_${SECRET.slice(1)}`] }] }, /agent "athena" has a secret of 21 characters/],
    ['an id that breaks the pattern', { apps: [{ id: 'Portal!', tokens: [] }] }, /apps\.0\.id/],
    ['an app listed twice', { apps: [{ id: 'portal' }, { id: 'portal' }] }, /listed twice/],
    ['a token listed twice', { apps: [{ id: 'portal', tokens: [`rlk_portal_${SECRET}`, `rlk_portal_${SECRET}`] }] }, /listed twice/],
    ['a bad rate limit', { apps: [{ id: 'portal', rate_limit_per_min: 0 }] }, /rate_limit_per_min/],
    ['an allowlist entry that is no app id', { agents: [{ id: 'athena', allow_apps: ['Not An Id'] }] }, /allow_apps/],
  ])('refuses %s, saying what is wrong', (_name, raw, message) => {
    expect(() => toRegistryData(raw, 1)).toThrow(RegistryFileError);
    expect(() => toRegistryData(raw, 1)).toThrow(message);
  });

  test('a missing or unparsable file is a clear error naming the file', () => {
    expect(() => readRegistryFile(path.join(dir, 'absent.json'), 1)).toThrow(/cannot read RELAY_CONFIG .*absent\.json/);
    expect(() => readRegistryFile(write('bad.json', '{"apps": ['), 1)).toThrow(/bad\.json does not parse/);
  });

  test('the development registry lets its own app reach its own agent with fresh tokens', () => {
    const a = developmentRegistry(1);
    const b = developmentRegistry(1);
    expect(a.appToken).toMatch(/^rlk_portal_[0-9A-Za-z]{32}$/);
    expect(a.agentToken).toMatch(/^rla_athena_[0-9A-Za-z]{32}$/);
    expect(a.appToken).not.toBe(b.appToken);
    expect(a.data.agents[0]?.allowApps).toEqual(['portal']);
  });

  test('webhooks: an http(s) URL and a whsec_ secret for apps and agents; anything else is refused by field', () => {
    const secret = 'whsec_' + Buffer.alloc(24, 1).toString('base64');
    const data = toRegistryData({
      apps: [{ id: 'portal', webhook_url: 'http://10.0.0.5:8080/hook', webhook_secret: secret }],
      agents: [{ id: 'athena', webhook_url: 'https://agents.example/athena', webhook_secret: secret }],
    }, 5_000);
    expect(data.apps[0]).toMatchObject({ webhookUrl: 'http://10.0.0.5:8080/hook', webhookSecret: secret });
    expect(data.agents[0]).toMatchObject({ webhookUrl: 'https://agents.example/athena', webhookSecret: secret });
    expect(() => toRegistryData({ apps: [{ id: 'portal', webhook_url: 'ftp://x/y' }] }, 5_000)).toThrow(/apps\.0\.webhook_url/);
    expect(() => toRegistryData({ agents: [{ id: 'a', webhook_secret: 'whsec_c2hvcnQ=' }] }, 5_000)).toThrow(/agents\.0\.webhook_secret/);
  });
});
