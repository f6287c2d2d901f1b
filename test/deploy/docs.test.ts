import { ENV } from '@relay/gateway';
import { composeRuleGroups, k8sRuleGroups, nodeSeries, read } from './artefacts';

// docs/operations.md says what the deployment and the code do.

const doc = read('docs/operations.md');

/** A row of the environment table, made from ENV the way the README's table is. */
const envRow = (name: string, spec: { default: string; help: string }) =>
  `| \`${name}\` | ${spec.default ? `\`${spec.default}\`` : '—'} | ${spec.help} |`;

describe('docs/operations.md', () => {
  test('has every environment variable the gateway reads, with its default and meaning from ENV', () => {
    expect(doc).toContain('| variable | default | meaning |\n|---|---|---|\n');
    for (const [name, spec] of Object.entries(ENV)) {
      expect(doc).toContain(`\n${envRow(name, spec)}\n`);
    }
  });

  test('explains every alert, under a heading of its own', () => {
    const alerts = [...composeRuleGroups(), ...k8sRuleGroups()].flatMap((g) => g.rules.map((r) => r.alert));
    expect(alerts.length).toBeGreaterThanOrEqual(12);
    for (const alert of new Set(alerts)) expect(doc).toMatch(new RegExp(`^### ${alert} \\(`, 'm'));
    // and names no alert that does not exist
    const documented = [...doc.matchAll(/^### (Relay[A-Za-z]+) \(/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual([...new Set(alerts)].sort());
  });

  test('describes every relay series a node exports', () => {
    const names = nodeSeries()
      .map((m) => m.name)
      .filter((n) => n.startsWith('relay_'));
    expect(names).toEqual(expect.arrayContaining(['relay_connections', 'relay_events_waiting', 'relay_redis_up']));
    for (const name of names) expect(doc).toMatch(new RegExp(`^\\| \`${name}\` \\|`, 'm'));
  });

  test('says how to run it with compose and with kustomize', () => {
    expect(doc).toContain('docker compose up --build -d');
    expect(doc).toContain('kubectl apply -k k8s/');
    expect(doc).toContain('docker build -f deploy/Dockerfile');
  });

  test('gives the buffer limits as the gateway has them', () => {
    const kib = (name: 'RELAY_TOKEN_DROP_BYTES' | 'RELAY_MAX_BUFFERED_BYTES') => Number(ENV[name].default) / 1024;
    expect(doc).toContain(`\`RELAY_TOKEN_DROP_BYTES\` (${kib('RELAY_TOKEN_DROP_BYTES')} KiB)`);
    expect(doc).toContain(`\`RELAY_MAX_BUFFERED_BYTES\` (${kib('RELAY_MAX_BUFFERED_BYTES') / 1024} MiB)`);
  });

  test('the README links to it', () => {
    expect(read('README.md')).toContain('](docs/operations.md)');
  });
});
