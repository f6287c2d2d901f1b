import { existsSync } from 'node:fs';
import path from 'node:path';
import { toRegistryData } from '@relay/gateway';
import { DASHBOARD_FILE, ROOT, deploymentYamlFiles, filesUnder, isYaml, parseYaml, read, yamlDocument, yamlDocuments } from './artefacts';

describe('deployment files parse', () => {
  const files = deploymentYamlFiles();

  test('the deployment has the files issue 5 asks for', () => {
    for (const file of [
      'docker-compose.yml',
      'deploy/haproxy.cfg',
      'deploy/Dockerfile',
      'deploy/prometheus/prometheus.yml',
      'deploy/prometheus/alerts.yml',
      'deploy/grafana/provisioning/datasources/prometheus.yml',
      'deploy/grafana/provisioning/dashboards/relay.yml',
      DASHBOARD_FILE,
      'deploy/registry.example.yaml',
      'k8s/kustomization.yaml',
      '.dockerignore',
    ]) {
      expect([file, existsSync(path.join(ROOT, file))]).toEqual([file, true]);
    }
    // and the YAML list below is not vacuous
    expect(files.length).toBeGreaterThanOrEqual(15);
  });

  test.each(files)('%s parses as YAML with no error or warning', (file) => {
    const docs = yamlDocuments(file);
    expect(docs.length).toBeGreaterThan(0);
    for (const doc of docs) expect(typeof doc).toBe('object');
  });

  test('the parser used here refuses duplicate keys and bad indentation, and reads merge keys', () => {
    expect(() => parseYaml('a: 1\na: 2\n', 'dup.yaml')).toThrow('dup.yaml');
    expect(() => parseYaml('a:\n  b: 1\n c: 2\n', 'indent.yaml')).toThrow('indent.yaml');
    expect(parseYaml('x: &x {a: 1}\ny:\n  <<: *x\n  b: 2\n', 'merge.yaml')).toEqual([{ x: { a: 1 }, y: { a: 1, b: 2 } }]);
  });

  test('the Grafana dashboard is valid JSON with unique panel ids', () => {
    const dashboard = JSON.parse(read(DASHBOARD_FILE));
    expect(dashboard).toMatchObject({ uid: 'relay', title: 'Relay' });
    const ids: number[] = [];
    const visit = (panels: { id: number; panels?: unknown[] }[] = []) => {
      for (const panel of panels) {
        ids.push(panel.id);
        visit(panel.panels as never);
      }
    };
    visit(dashboard.panels);
    expect(ids.length).toBeGreaterThanOrEqual(10);
    expect(new Set(ids).size).toBe(ids.length);
  });

  test('kustomization.yaml lists every manifest in k8s/, and each listed file exists', () => {
    const kustomization = yamlDocument('k8s/kustomization.yaml');
    expect(kustomization).toMatchObject({ apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization' });
    const generated: string[] = kustomization.configMapGenerator.flatMap((g: { files: string[] }) =>
      g.files.map((f) => f.replace(/^[^=]*=/, '')),
    );
    const manifests = filesUnder('k8s')
      .filter(isYaml)
      .map((f) => path.posix.relative('k8s', f))
      .filter((f) => f !== 'kustomization.yaml' && !generated.includes(f));
    expect([...kustomization.resources].sort()).toEqual(manifests.sort());
    for (const file of generated) expect(existsSync(path.join(ROOT, 'k8s', file))).toBe(true);
  });

  test('both registry files are valid registries for the gateway', () => {
    for (const file of ['deploy/registry.example.yaml', 'k8s/registry.yaml']) {
      const data = toRegistryData(yamlDocument(file), 3_600_000, file);
      expect(data.apps.length).toBeGreaterThan(0);
      expect(data.agents.length).toBeGreaterThan(0);
      expect(data.tokens.length).toBe(data.apps.length + data.agents.length);
    }
    // Kubernetes is production: its registry holds only token hashes.
    const k8s = yamlDocument('k8s/registry.yaml');
    for (const entry of [...k8s.apps, ...k8s.agents]) {
      for (const token of entry.tokens) expect(token).toMatch(/^sha256:[0-9a-f]{64}$/);
    }
  });
});
