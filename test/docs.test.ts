import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { ENV, toRegistryData } from '@relay/gateway';
import {
  CloseCode,
  ERROR_CODES,
  MAX_AGENT_FRAME_BYTES,
  MAX_APP_FRAME_BYTES,
  MAX_IDEMPOTENCY_KEY_LENGTH,
  MAX_PAYLOAD_BYTES,
  MAX_REF_LENGTH,
  MAX_TOKEN_TEXT_LENGTH,
} from '@relay/protocol';

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
    expect(types('app_to_relay')).toEqual(['cancel', 'discover', 'event', 'ping', 'pong', 'resume']);
    expect(types('agent_to_relay')).toEqual(['ping', 'pong', 'reply', 'token']);
    expect(types('relay_to_app')).toEqual(['accepted', 'agents', 'error', 'ping', 'pong', 'reply', 'resumed', 'token']);
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

/** The frames' JSON Schema as the build exports it: type names by direction. */
function frameTypes(direction: string): string[] {
  const schema = JSON.parse(read('packages/protocol/dist/frames.schema.json'));
  return schema.$defs[direction].oneOf.map((s: { properties: { type: { const: string } } }) => s.properties.type.const);
}

describe('docs/protocol.md covers the protocol package', () => {
  const doc = read('docs/protocol.md');
  /** The text of one `### heading` section, up to the next heading of the same level or above. */
  const section = (heading: string) => {
    const start = doc.indexOf(`\n### ${heading}\n`);
    expect([heading, start >= 0]).toEqual([heading, true]);
    const rest = doc.slice(start + heading.length + 6);
    const end = rest.search(/\n#{2,3} /);
    return end < 0 ? rest : rest.slice(0, end);
  };

  test.each([
    ['app_to_relay', 'App → relay'],
    ['relay_to_agent', 'Relay → agent'],
    ['agent_to_relay', 'Agent → relay'],
    ['relay_to_app', 'Relay → app'],
  ])('every %s frame type is named where that direction is described, and shown in an example', (direction, heading) => {
    const text = section(heading);
    for (const type of frameTypes(direction)) {
      expect([type, text.includes(`\`${type}\``)]).toEqual([type, true]);
      expect([type, doc.includes(`{"type":"${type}"`)]).toEqual([type, true]);
    }
  });

  test('every error code has a row in the error table', () => {
    for (const code of ERROR_CODES) expect(doc).toMatch(new RegExp(`^\\| \`${code}\` \\|`, 'm'));
  });

  test('every close code the relay sends has a row, and so has the 1006 of a dropped frame', () => {
    for (const code of [...Object.values(CloseCode), 1006]) expect(doc).toMatch(new RegExp(`^\\| ${code} \\|`, 'm'));
  });

  test('gives the limits the protocol package enforces', () => {
    const n = (value: number) => value.toLocaleString('en-US');
    expect(doc).toContain(`${MAX_APP_FRAME_BYTES / 1024} KiB (${n(MAX_APP_FRAME_BYTES)} bytes)`);
    expect(doc).toContain(`${MAX_AGENT_FRAME_BYTES / 1024 / 1024} MiB (${n(MAX_AGENT_FRAME_BYTES)} bytes)`);
    expect(doc).toContain(`${n(MAX_PAYLOAD_BYTES)} bytes`);
    expect(doc).toContain(`| \`ref\` | ${MAX_REF_LENGTH} characters |`);
    expect(doc).toContain(`| \`idempotency_key\` | 1–${MAX_IDEMPOTENCY_KEY_LENGTH} characters |`);
    expect(doc).toContain(`| one agent \`token\`'s text | ${n(MAX_TOKEN_TEXT_LENGTH)} characters |`);
  });

  test('README and docs link the protocol and architecture in the repository, nothing outside it', () => {
    const readme = read('README.md');
    expect(readme).toContain('](docs/protocol.md)');
    expect(readme).toContain('](docs/architecture.md)');
    for (const file of ['README.md', 'docs/protocol.md', 'docs/architecture.md', 'docs/operations.md', 'docs/guarantees.md']) {
      expect([file, read(file).match(/\]\((\.\.\/)+shared\//)]).toEqual([file, null]);
    }
  });
});
