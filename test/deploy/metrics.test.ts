import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ERROR_CODES } from '@relay/protocol';
import { startRedis, type RedisUnderTest } from '../support/redis-server';
import { startRelay, type RelayProcess } from '../support/relay-process';
import { testRegistry } from '../support/registry';
import { scrape } from '../support/wire-probe';
import {
  ROOT,
  composeRuleGroups,
  dashboardQueries,
  familyOf,
  filesUnder,
  fromGrafana,
  k8sRuleGroups,
  metricFamilies,
  nodeSeries,
  parsePromQL,
  yamlDocument,
} from './artefacts';

// Every series the dashboard and the alert rules name must exist in GET /metrics of a real
// node, with the labels they use. The node runs on Redis, so the Redis series are there too.

/** Series that come from elsewhere than a Relay node, and where. */
const EXTERNAL: Record<string, string> = {
  up: 'Prometheus, one per scrape target',
  kube_deployment_status_replicas_available: 'kube-state-metrics',
  kube_deployment_spec_replicas: 'kube-state-metrics',
  kube_statefulset_status_replicas_ready: 'kube-state-metrics',
  // Per Redis process (each shard's primary and replica), from redis_exporter (job "redis").
  redis_up: 'redis_exporter',
  redis_cpu_user_seconds_total: 'redis_exporter',
  redis_cpu_sys_seconds_total: 'redis_exporter',
  redis_commands_processed_total: 'redis_exporter',
  redis_connected_slaves: 'redis_exporter',
  redis_instance_info: 'redis_exporter',
  redis_memory_used_bytes: 'redis_exporter',
};
/** Labels Prometheus adds to every scraped series (compose: job, instance; operator: more). */
const TARGET_LABELS = ['job', 'instance', 'namespace', 'pod', 'service', 'endpoint', 'container'];

const gatewaySource = filesUnder('packages/gateway/src')
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
  .map((f) => readFileSync(path.join(ROOT, f), 'utf8'))
  .join('\n');

interface Query {
  where: string;
  expr: string;
}

function allQueries(): Query[] {
  const rules = [
    ...composeRuleGroups().map((g) => ({ file: 'alerts.yml', group: g })),
    ...k8sRuleGroups().map((g) => ({ file: 'prometheusrule.yaml', group: g })),
  ].flatMap(({ file, group }) => group.rules.map((r) => ({ where: `alert ${r.alert} in ${file} (${group.name})`, expr: r.expr })));
  const panels = dashboardQueries().map((q, i) => ({ where: `dashboard: ${q.panel} [${i}]`, expr: fromGrafana(q.expr) }));
  return [...rules, ...panels];
}

/** What is wrong with a query, checked against a node's exposition text: empty when nothing. */
function problems(expr: string, families: Map<string, string>, labelNames: Map<string, string[]>): string[] {
  const query = parsePromQL(expr);
  const out = [...query.errors.map((e) => `syntax error ${e}`)];
  for (const selector of query.selectors) {
    if (EXTERNAL[selector.metric]) continue;
    const family = familyOf(selector.metric, families);
    if (!family) {
      out.push(`${selector.metric} is not in /metrics`);
      continue;
    }
    const known = [...(labelNames.get(family) ?? []), ...TARGET_LABELS, ...(selector.metric.endsWith('_bucket') ? ['le'] : [])];
    for (const matcher of selector.matchers) {
      if (!known.includes(matcher.label)) out.push(`${selector.metric} has no label ${matcher.label}`);
      if (matcher.label === 'job' && matcher.value !== 'relay') out.push(`job="${matcher.value}" is not the Relay scrape job`);
      if (matcher.op !== '=' || TARGET_LABELS.includes(matcher.label)) continue;
      const isCode = ['code', 'outcome'].includes(matcher.label) && (ERROR_CODES as string[]).includes(matcher.value);
      if (!isCode && !gatewaySource.includes(`'${matcher.value}'`)) {
        out.push(`${selector.metric}{${matcher.label}="${matcher.value}"}: the gateway never sets that value`);
      }
    }
  }
  for (const grouping of query.groupings) {
    const inside = grouping.metrics.filter((m) => !EXTERNAL[m]).map((m) => familyOf(m, families) ?? m);
    const known = [...inside.flatMap((m) => labelNames.get(m) ?? []), ...TARGET_LABELS, 'le'];
    for (const label of grouping.labels) if (!known.includes(label)) out.push(`grouping by ${label}, which ${inside.join(', ')} lack`);
  }
  return out;
}

describe('metrics the dashboard and the alerts use exist on a real node', () => {
  let redis: RedisUnderTest;
  let relay: RelayProcess;
  let exposition: string;
  let families: Map<string, string>;
  // Label names of every series, from the code that builds the node's registry.
  const labelNames = new Map(nodeSeries().map((m) => [m.name, m.labelNames]));

  beforeAll(async () => {
    redis = await startRedis();
    relay = await startRelay({ registry: testRegistry().registry, env: { REDIS_URL: redis.url, RELAY_REDIS_PREFIX: redis.prefix } });
    exposition = await scrape(relay.httpUrl);
    families = metricFamilies(exposition);
  });
  afterAll(async () => {
    expect(await relay.stop()).toBe(0);
    await redis.stop();
  });

  test('the node exports relay series and the process defaults', () => {
    expect(families.get('relay_connections')).toBe('gauge');
    expect(families.get('nodejs_gc_duration_seconds')).toBe('histogram');
    expect(families.get('nodejs_eventloop_lag_p99_seconds')).toBe('gauge');
    // the registry the label check reads holds what the node serves
    for (const name of labelNames.keys()) expect([name, families.has(name)]).toEqual([name, true]);
  });

  test('there are queries to check: every dashboard panel and every alert', () => {
    const queries = allQueries();
    expect(queries.filter((q) => q.where.startsWith('dashboard')).length).toBeGreaterThanOrEqual(20);
    expect(queries.filter((q) => q.where.startsWith('alert')).length).toBeGreaterThanOrEqual(12);
  });

  test.each(allQueries().map((q) => [q.where, q.expr] as const))('%s', (_where, expr) => {
    expect(problems(expr, families, labelNames)).toEqual([]);
  });

  test('the check catches a misspelt series, a missing label, a value never set and bad syntax', () => {
    expect(problems('sum(relay_conections)', families, labelNames)).toEqual(['relay_conections is not in /metrics']);
    expect(problems('sum by (agent) (relay_connections)', families, labelNames)).toEqual(['grouping by agent, which relay_connections lack']);
    expect(problems('relay_tokens_dropped_total{reason="slow"}', families, labelNames)).toEqual([
      'relay_tokens_dropped_total{reason="slow"}: the gateway never sets that value',
    ]);
    expect(problems('relay_events_finished_total{outcome="EXPIRED"}', families, labelNames)).toHaveLength(1);
    expect(problems('relay_connections{job="prometheus"}', families, labelNames)).toEqual(['job="prometheus" is not the Relay scrape job']);
    expect(problems('sum(rate(relay_connections[5m])', families, labelNames)[0]).toMatch(/^syntax error/);
    expect(problems('rate(nodejs_gc_duration_seconds_bucket[5m])', families, labelNames)).toEqual([]);
    expect(problems('rate(relay_tokens_relayed_total_bucket[5m])', families, labelNames)).toHaveLength(1);
  });

  test('the series outside a node are only where they exist: up anywhere, kube-state-metrics on Kubernetes', () => {
    const external = new Set<string>();
    for (const query of allQueries()) {
      for (const selector of parsePromQL(query.expr).selectors) {
        if (EXTERNAL[selector.metric]) external.add(selector.metric);
        if (selector.metric.startsWith('kube_')) expect(query.where).toMatch(/\(relay-kubernetes\)$/);
      }
    }
    expect([...external].sort()).toEqual(Object.keys(EXTERNAL).sort());
  });

  test('the dashboard covers connections, event rates, latency, queue pressure, drops and Redis health', () => {
    const series = new Set(dashboardQueries().flatMap((q) => parsePromQL(fromGrafana(q.expr)).selectors.map((s) => s.metric)));
    for (const name of [
      'relay_connections',
      'relay_events_accepted_total',
      'relay_events_finished_total',
      'relay_deliveries_total',
      'nodejs_eventloop_lag_p99_seconds',
      'relay_frames_rejected_total', // QUEUE_FULL, RELAY_UNAVAILABLE
      'relay_tokens_dropped_total',
      'relay_finals_dropped_total',
      'relay_backpressure_closes_total',
      'relay_events_waiting',
      'relay_delivery_latency_seconds_bucket',
      'relay_time_to_first_token_seconds_bucket',
      'relay_time_to_reply_seconds_bucket',
      'relay_bus_published_total',
      'relay_bus_received_total',
      'relay_bus_roundtrip_seconds_bucket',
      'relay_redis_up',
      'relay_redis_command_duration_seconds_bucket',
    ]) {
      expect(series).toContain(name);
    }
  });

  test('the dashboard reads the data source Grafana is given', () => {
    const provisioned = yamlDocument('deploy/grafana/provisioning/datasources/prometheus.yml').datasources[0];
    const dashboard = JSON.parse(readFileSync(path.join(ROOT, 'deploy/grafana/dashboards/relay.json'), 'utf8'));
    const uids = new Set<string>();
    const visit = (panels: { datasource?: { uid: string }; targets?: { datasource?: { uid: string } }[]; panels?: unknown[] }[] = []) => {
      for (const panel of panels) {
        if (panel.datasource) uids.add(panel.datasource.uid);
        for (const target of panel.targets ?? []) if (target.datasource) uids.add(target.datasource.uid);
        visit(panel.panels as never);
      }
    };
    visit(dashboard.panels);
    for (const variable of dashboard.templating.list) uids.add(variable.datasource.uid);
    expect([...uids]).toEqual([provisioned.uid]);
    expect(provisioned.type).toBe('prometheus');
  });
});
