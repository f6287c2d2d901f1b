import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { ENV, toRegistryData } from '@relay/gateway';

const root = path.resolve(__dirname, '..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

describe('docs say what the code does', () => {
  const names = Object.keys(ENV);

  test('every environment variable the gateway reads is in README, .env.example and --help', () => {
    const readme = read('README.md');
    const example = read('.env.example');
    const help = execFileSync(process.execPath, [path.join(root, 'packages/gateway/dist/main.js'), '--help']).toString();
    for (const name of names) {
      expect(readme).toContain(`\`${name}\``);
      expect(example).toMatch(new RegExp(`^(# )?${name}=`, 'm'));
      expect(help).toContain(name);
    }
  });

  test('.env.example names no variable the gateway does not read', () => {
    const listed = [...read('.env.example').matchAll(/^(?:# )?([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]);
    expect(listed.sort()).toEqual([...names].sort());
  });

  test('the build exports the JSON Schema of every frame, by role and direction', () => {
    const schema = JSON.parse(read('packages/protocol/dist/frames.schema.json'));
    expect(Object.keys(schema.$defs).sort()).toEqual(['agent_to_relay', 'app_to_relay', 'relay_to_agent', 'relay_to_app']);
    const types = (dir: string) =>
      schema.$defs[dir].oneOf.map((s: { properties: { type: { const: string } } }) => s.properties.type.const).sort();
    expect(types('app_to_relay')).toEqual(['cancel', 'discover', 'event', 'ping', 'pong']);
    expect(types('agent_to_relay')).toEqual(['ping', 'pong', 'reply', 'token']);
    expect(types('relay_to_app')).toEqual(['accepted', 'agents', 'error', 'ping', 'pong', 'reply', 'token']);
    expect(types('relay_to_agent')).toEqual(['cancel', 'error', 'event', 'ping', 'pong']);
  });

  test("the README's registry example is a valid registry file", () => {
    const yaml = /```yaml\n([\s\S]*?)```/.exec(read('README.md'))?.[1];
    expect(yaml).toBeDefined();
    const data = toRegistryData(YAML.parse(yaml as string), 3_600_000);
    expect(data.apps.map((a) => a.id)).toEqual(['portal']);
    expect(data.agents[0]).toMatchObject({ id: 'athena', allowApps: ['portal'], maxInFlight: 64 });
    expect(data.tokens).toHaveLength(2);
  });
});
