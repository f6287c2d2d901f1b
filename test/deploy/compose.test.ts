import { existsSync } from 'node:fs';
import path from 'node:path';
import { ENV, loadConfig } from '@relay/gateway';
import {
  ROOT,
  durationMs,
  haproxyCheckPath,
  parseHaproxy,
  read,
  yamlDocument,
} from './artefacts';

// docker-compose.yml and the configs it mounts (HAProxy, Prometheus, Grafana) against each other
// and against what the gateway reads. No container engine runs here: the files are the proof.

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  healthcheck?: { test: string[] };
  depends_on?: string[] | Record<string, { condition: string }>;
  stop_grace_period?: string;
  mem_limit?: string;
  read_only?: boolean;
}

const compose = yamlDocument<{ services: Record<string, Service> }>('docker-compose.yml');
const services = compose.services;
const relayNames = Object.keys(services).filter((name) => services[name]?.build?.dockerfile === 'deploy/Dockerfile');
const relays = relayNames.map((name) => [name, services[name] as Service] as const);
const port = Number(ENV.PORT.default);

/** `./host/path:/container/path[:ro]` mounts of a service, as { source, target }. */
function mounts(service: Service): { source: string; target: string; readOnly: boolean }[] {
  return (service.volumes ?? []).map((v) => {
    const [source, target, mode] = v.split(':') as [string, string, string | undefined];
    return { source, target, readOnly: mode === 'ro' };
  });
}

/** The host file mounted at `target` in a service (a bind mount of this repository). */
function mountedFile(service: Service, target: string): string {
  for (const mount of mounts(service)) {
    if (!mount.source.startsWith('./')) continue;
    if (mount.target === target) return path.posix.normalize(mount.source);
    if (target.startsWith(`${mount.target}/`)) return path.posix.join(mount.source, target.slice(mount.target.length + 1));
  }
  throw new Error(`nothing is mounted at ${target}`);
}

describe('docker-compose.yml', () => {
  test('Redis, three Relay nodes, a load balancer, Prometheus and Grafana', () => {
    expect(relayNames).toEqual(['relay-1', 'relay-2', 'relay-3']);
    for (const name of ['redis', 'lb', 'prometheus', 'grafana']) expect(Object.keys(services)).toContain(name);
  });

  describe('Relay nodes', () => {
    test.each(relays)('%s: every env name is one the gateway reads, and the values load as its config', (name, service) => {
      const env = service.environment ?? {};
      for (const key of Object.keys(env)) expect(Object.keys(ENV)).toContain(key);
      expect(Object.keys(env)).toEqual(expect.arrayContaining(['REDIS_URL', 'RELAY_NODE_ID', 'RELAY_CONFIG']));
      const config = loadConfig(env);
      expect(config.port).toBe(port);
      expect(config.nodeId).toBe(name);
    });

    test('node ids are unique', () => {
      const ids = relays.map(([, s]) => s.environment?.RELAY_NODE_ID);
      expect(new Set(ids).size).toBe(relays.length);
    });

    test.each(relays)('%s: REDIS_URL names the redis service, which it waits for', (_name, service) => {
      const url = new URL(service.environment?.REDIS_URL ?? '');
      expect(url.hostname).toBe('redis');
      expect(Number(url.port || 6379)).toBe(6379);
      expect(service.depends_on).toMatchObject({ redis: { condition: 'service_healthy' } });
      expect(services.redis?.healthcheck?.test).toEqual(['CMD', 'redis-cli', 'ping']);
    });

    test.each(relays)('%s: RELAY_CONFIG is deploy/registry.example.yaml, mounted read-only', (_name, service) => {
      const target = service.environment?.RELAY_CONFIG ?? '';
      expect(mountedFile(service, target)).toBe('deploy/registry.example.yaml');
      expect(mounts(service).find((m) => m.target === target)?.readOnly).toBe(true);
    });

    test.each(relays)('%s: built from deploy/Dockerfile at the root, read-only, not published', (_name, service) => {
      expect(service.build).toEqual({ context: '.', dockerfile: 'deploy/Dockerfile' });
      expect(existsSync(path.join(ROOT, service.build?.dockerfile ?? ''))).toBe(true);
      expect(service.read_only).toBe(true);
      // only the load balancer is reachable from outside
      expect(service.ports).toBeUndefined();
    });

    test.each(relays)('%s: compose waits out the drain before SIGKILL', (_name, service) => {
      const graceMs = Number(service.environment?.RELAY_SHUTDOWN_GRACE_MS ?? ENV.RELAY_SHUTDOWN_GRACE_MS.default);
      expect(durationMs(service.stop_grace_period ?? '10s')).toBeGreaterThanOrEqual(graceMs + 5_000);
    });
  });

  describe('Redis', () => {
    const redis = services.redis as Service;
    const arg = (flag: string) => redis.command?.[redis.command.indexOf(flag) + 1];

    test('keeps an append-only file, fsynced, on a named volume; never evicts', () => {
      expect(redis.image).toMatch(/^redis:7(\.|$)/);
      expect(redis.command?.[0]).toBe('redis-server');
      expect(arg('--appendonly')).toBe('yes');
      expect(['always', 'everysec']).toContain(arg('--appendfsync'));
      expect(arg('--maxmemory-policy')).toBe('noeviction');
      const data = mounts(redis).find((m) => m.target === '/data');
      expect(data?.source).toMatch(/^[a-z][a-z0-9-]*$/); // a named volume, not a host path
      expect(Object.keys((compose as unknown as { volumes: Record<string, unknown> }).volumes)).toContain(data?.source);
    });

    test('the file says which fsync policy and why', () => {
      expect(read('docker-compose.yml')).toMatch(new RegExp(`appendfsync ${arg('--appendfsync')}:`));
    });
  });

  describe('HAProxy', () => {
    const lb = services.lb as Service;
    const config = parseHaproxy(read(mountedFile(lb, '/usr/local/etc/haproxy/haproxy.cfg')));
    const backend = config.find((s) => s.kind === 'backend');
    const frontend = config.find((s) => s.kind === 'frontend' && s.lines.some((l) => l.startsWith('default_backend')));
    const defaults = config.find((s) => s.kind === 'defaults');
    const servers = (backend?.lines ?? []).filter((l) => l.startsWith('server ')).map((l) => l.split(/\s+/)[2] as string);

    test('balances every Relay node on the gateway port', () => {
      expect(servers.sort()).toEqual(relayNames.map((n) => `${n}:${port}`).sort());
    });

    test('checks /readyz, so a draining node leaves the rotation', () => {
      expect(haproxyCheckPath(backend as never)).toBe('/readyz');
      expect(backend?.lines).toContain('http-check expect status 200');
      expect(backend?.lines.some((l) => /^default-server .*\bcheck\b/.test(l))).toBe(true);
    });

    test('no sticky sessions: any node serves any socket', () => {
      for (const line of config.flatMap((s) => s.lines)) {
        expect(line).not.toMatch(/^(cookie|stick|stick-table|balance source|hash-type)\b/);
      }
      expect(backend?.lines).toContain('balance leastconn');
    });

    test('tunnel timeout (idle WebSocket) is well past the node idle timeout', () => {
      const timeout = (name: string) => {
        const line = defaults?.lines.find((l) => l.startsWith(`timeout ${name} `));
        return durationMs(line?.split(/\s+/)[2] ?? '0s');
      };
      const idleS = Number(ENV.RELAY_IDLE_TIMEOUT_S.default);
      for (const [, service] of relays) expect(service.environment?.RELAY_IDLE_TIMEOUT_S).toBeUndefined();
      expect(timeout('tunnel')).toBeGreaterThanOrEqual(10 * idleS * 1000);
      expect(timeout('client')).toBeGreaterThan(idleS * 1000 - 1);
      expect(timeout('connect')).toBeGreaterThan(0);
    });

    test('publishes the WebSocket port it binds, and keeps /metrics for Prometheus', () => {
      const bind = frontend?.lines.find((l) => l.startsWith('bind '))?.split(/\s+/)[1];
      const bound = Number(bind?.split(':').pop());
      expect(lb.ports?.map((p) => Number(p.split(':').pop()))).toContain(bound);
      expect(frontend?.lines).toContain('http-request deny deny_status 404 if { path_beg /metrics }');
    });
  });

  describe('Prometheus', () => {
    const prometheus = services.prometheus as Service;
    const configFile = mountedFile(prometheus, '/etc/prometheus/prometheus.yml');
    const config = yamlDocument(configFile);
    const job = config.scrape_configs.find((c: { job_name: string }) => c.job_name === 'relay');

    test('the config it is started with is the one mounted', () => {
      expect(prometheus.command).toContain('--config.file=/etc/prometheus/prometheus.yml');
    });

    test('scrapes every Relay node directly on the gateway port, as job "relay"', () => {
      const targets: string[] = job.static_configs.flatMap((c: { targets: string[] }) => c.targets);
      expect(targets.sort()).toEqual(relayNames.map((n) => `${n}:${port}`).sort());
      expect(job.metrics_path ?? '/metrics').toBe('/metrics');
    });

    test('loads the alert rules from deploy/prometheus/alerts.yml', () => {
      expect(config.rule_files).toHaveLength(1);
      expect(mountedFile(prometheus, config.rule_files[0])).toBe('deploy/prometheus/alerts.yml');
    });
  });

  describe('Grafana', () => {
    const grafana = services.grafana as Service;

    test('the data source points at the prometheus service', () => {
      const file = mountedFile(grafana, '/etc/grafana/provisioning/datasources/prometheus.yml');
      const source = yamlDocument(file).datasources[0];
      expect(source).toMatchObject({ type: 'prometheus', access: 'proxy' });
      const url = new URL(source.url);
      expect(url.hostname).toBe('prometheus');
      expect(services.prometheus?.ports?.map((p) => Number(p.split(':').pop()))).toContain(Number(url.port));
    });

    test('the dashboard provider reads the mounted dashboards, the Relay one among them', () => {
      const provider = yamlDocument(mountedFile(grafana, '/etc/grafana/provisioning/dashboards/relay.yml')).providers[0];
      const dashboards = provider.options.path as string;
      expect(mountedFile(grafana, `${dashboards}/relay.json`)).toBe('deploy/grafana/dashboards/relay.json');
      const home = grafana.environment?.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH ?? '';
      expect(existsSync(path.join(ROOT, mountedFile(grafana, home)))).toBe(true);
    });
  });

  test('every bind mount names a file or folder of this repository', () => {
    for (const [name, service] of [...Object.entries(services), ...Object.entries(clusterServices)]) {
      for (const mount of mounts(service).filter((m) => m.source.startsWith('./'))) {
        expect([name, mount.source, existsSync(path.join(ROOT, mount.source))]).toEqual([name, mount.source, true]);
      }
    }
  });
});

// The cluster profile: docker-compose.cluster.yml on top of docker-compose.yml.
const clusterCompose = yamlDocument<{ services: Record<string, Service>; volumes: Record<string, unknown> }>('docker-compose.cluster.yml');
const clusterServices = clusterCompose.services;

describe('docker-compose.cluster.yml (the cluster profile)', () => {
  const redisNames = Object.keys(clusterServices).filter((name) => /^redis-\d+$/.test(name));
  const redisUrls = redisNames.map((name) => `redis://${name}:6379`);

  test('six Redis processes in cluster mode, each durable as the single Redis is, on a volume of its own', () => {
    expect(redisNames).toHaveLength(6);
    const volumes = new Set<string>();
    for (const name of redisNames) {
      const redis = clusterServices[name] as Service;
      const arg = (flag: string) => redis.command?.[redis.command.indexOf(flag) + 1];
      expect(redis.image).toBe(services.redis?.image);
      expect([name, arg('--cluster-enabled'), arg('--appendonly'), arg('--appendfsync'), arg('--maxmemory-policy')]).toEqual([name, 'yes', 'yes', 'always', 'noeviction']);
      const data = mounts(redis).find((m) => m.target === '/data')?.source ?? '';
      expect(Object.keys(clusterCompose.volumes)).toContain(data);
      volumes.add(data);
    }
    expect(volumes.size).toBe(6);
  });

  test('redis-cluster-init joins all six, three primaries with a replica each', () => {
    const init = clusterServices['redis-cluster-init'] as Service;
    expect(Object.keys(init.depends_on ?? {}).sort()).toEqual([...redisNames].sort());
    const script = init.command?.join(' ') ?? '';
    expect(script).toContain('--cluster-replicas 1');
    expect(script).toContain(`for n in ${redisNames.map((n) => n.split('-')[1]).join(' ')};`);
  });

  test.each(relayNames)('%s: with the overrides, its config is the whole cluster, every accept waiting on a replica', (name) => {
    const override = clusterServices[name] as Service;
    const env = { ...services[name]?.environment, ...override.environment };
    for (const key of Object.keys(override.environment ?? {})) expect(Object.keys(ENV)).toContain(key);
    const config = loadConfig(env);
    expect(config.redis).toEqual({ clusterUrls: redisUrls });
    expect(config.redisMinReplicas).toBe(1);
    expect(config.nodeId).toBe(name);
    expect(override.depends_on).toMatchObject({ 'redis-cluster-init': { condition: 'service_completed_successfully' } });
  });

  test('Prometheus scrapes the nodes as before and every Redis process through redis_exporter, as job "redis"', () => {
    const file = mountedFile(clusterServices.prometheus as Service, '/etc/prometheus/prometheus.yml');
    const config = yamlDocument(file);
    const base = yamlDocument(mountedFile(services.prometheus as Service, '/etc/prometheus/prometheus.yml'));
    const job = (c: typeof config, name: string) => c.scrape_configs.find((j: { job_name: string }) => j.job_name === name);
    expect(job(config, 'relay')).toEqual(job(base, 'relay'));
    expect(config.rule_files).toEqual(base.rule_files);
    const redis = job(config, 'redis');
    expect(redis.static_configs.flatMap((c: { targets: string[] }) => c.targets).sort()).toEqual([...redisUrls].sort());
    const exporter = redis.relabel_configs.find((r: { target_label: string }) => r.target_label === '__address__').replacement as string;
    expect(Object.keys(clusterServices)).toContain(exporter.split(':')[0]);
    expect(redis.metrics_path).toBe('/scrape');
  });
});
