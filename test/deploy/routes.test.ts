import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { startRelay, type RelayProcess } from '../support/relay-process';
import { testRegistry } from '../support/registry';
import { httpRequest } from '../support/wire-probe';
import {
  haproxyCheckPath,
  healthcheckCommand,
  k8sObject,
  parseDockerfile,
  parseHaproxy,
  read,
  yamlDocument,
} from './artefacts';

// Every HTTP path the deployment asks a node for is one a real node serves, for the purpose it
// is asked for; the image's HEALTHCHECK command works against a real node.

type Purpose = 'liveness' | 'readiness' | 'metrics';

function probedPaths(): { where: string; path: string; purpose: Purpose }[] {
  const container = k8sObject('Deployment', 'relay').spec.template.spec.containers[0];
  const dockerfile = parseDockerfile(read('deploy/Dockerfile'));
  const healthcheck = dockerfile.flatMap((s) => s.instructions).find((i) => i.keyword === 'HEALTHCHECK');
  const dockerPath = /path:\s*'([^']+)'/.exec(healthcheckCommand(healthcheck?.args ?? '').join(' '))?.[1] ?? '';
  const backend = parseHaproxy(read('deploy/haproxy.cfg')).find((s) => s.kind === 'backend');
  const job = yamlDocument('deploy/prometheus/prometheus.yml').scrape_configs.find((c: { job_name: string }) => c.job_name === 'relay');
  return [
    { where: 'k8s readinessProbe', path: container.readinessProbe.httpGet.path, purpose: 'readiness' },
    { where: 'k8s livenessProbe', path: container.livenessProbe.httpGet.path, purpose: 'liveness' },
    { where: 'k8s startupProbe', path: container.startupProbe.httpGet.path, purpose: 'liveness' },
    { where: 'k8s ServiceMonitor', path: k8sObject('ServiceMonitor', 'relay').spec.endpoints[0].path, purpose: 'metrics' },
    { where: 'Dockerfile HEALTHCHECK', path: dockerPath, purpose: 'liveness' },
    { where: 'HAProxy health check', path: haproxyCheckPath(backend as never) ?? '', purpose: 'readiness' },
    { where: 'compose Prometheus scrape', path: job.metrics_path ?? '/metrics', purpose: 'metrics' },
  ];
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  return typeof address === 'object' && address ? address.port : 0;
}

describe('the paths the deployment probes are served by a real node', () => {
  let relay: RelayProcess;

  beforeAll(async () => {
    relay = await startRelay({ registry: testRegistry().registry });
  });
  afterAll(async () => {
    expect(await relay.stop()).toBe(0);
  });

  test.each(probedPaths().map((p) => [p.where, p] as const))('%s', async (_where, probe) => {
    expect(probe.path).toMatch(/^\//);
    const answer = await httpRequest(`${relay.httpUrl}${probe.path}`);
    expect(answer.status).toBe(200);
    if (probe.purpose === 'metrics') {
      expect(answer.headers['content-type']).toMatch(/^text\/plain/);
      expect(answer.body).toMatch(/^# TYPE relay_connections gauge$/m);
    } else {
      // readiness is the route that turns 503 while a node drains; liveness never does
      expect(JSON.parse(answer.body)).toEqual({ status: probe.purpose === 'readiness' ? 'ready' : 'ok' });
    }
  });

  test('a path a node does not serve would fail the check above', async () => {
    expect((await httpRequest(`${relay.httpUrl}/ready`)).status).toBe(404);
  });

  describe('the image HEALTHCHECK command', () => {
    const healthcheck = parseDockerfile(read('deploy/Dockerfile'))
      .flatMap((s) => s.instructions)
      .find((i) => i.keyword === 'HEALTHCHECK');
    const command = healthcheckCommand(healthcheck?.args ?? '');
    const run = (port: number) =>
      spawnSync(process.execPath, command.slice(1), { env: { PATH: process.env.PATH ?? '', PORT: String(port) }, timeout: 10_000 });

    test('runs node, which the image has (no curl in slim images)', () => {
      expect(command[0]).toBe('node');
    });

    test('exits 0 against a running node', () => {
      expect(run(relay.port).status).toBe(0);
    });

    test('exits non-zero when nothing listens', async () => {
      expect(run(await freePort()).status).toBe(1);
    });

    test('has a timeout below the HEALTHCHECK timeout, so a hung node counts as unhealthy', () => {
      const timeoutS = Number(/--timeout=(\d+)s/.exec(healthcheck?.args ?? '')?.[1]);
      const requestMs = Number(/timeout:\s*(\d+)/.exec(command.join(' '))?.[1]);
      expect(requestMs).toBeGreaterThan(0);
      expect(requestMs).toBeLessThan(timeoutS * 1000);
    });
  });
});
