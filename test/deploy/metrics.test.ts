import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ERROR_CODES } from '@relay/protocol';
import { createMetrics } from '../../packages/gateway/src/relay/metrics';
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
  parsePromQL,
  plannedMetrics,
  yamlDocument,
} from './artefacts';

// Every series the dashboard and the alert rules name must exist in GET /metrics of a real
// node, with the labels they use; series still to come live in deploy/planned-metrics.txt.

/** Series that come from elsewhere than a Relay node, and where. */
const EXTERNAL: Record<string, string> = {
  up: 'Prometheus, one per scrape target',
  kube_deployment_status_replicas_available: 'kube-state-metrics',
  kube_deployment_spec_replicas: 'kube-state-metrics',
  kube_statefulset_status_replicas_ready: 'kube-state-metrics',
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
  let relay: RelayProcess;
  let exposition: string;
  let families: Map<string, string>;
  // Label names of every series, from the code that builds the node's registry.
  const labelNames = new Map(createMetrics().registry.getMetricsAsArray().map((m) => [m.name, [...((m as unknown as { labelNames?: string[] }).labelNames ?? [])]]));

  beforeAll(async () => {
    relay = await startRelay({ registry: testRegistry().registry });
    exposition = await scrape(relay.httpUrl);
    families = metricFamilies(exposition);
  });
  afterAll(async () => {
    expect(await relay.stop()).toBe(0);
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

  describe('planned series (deploy/planned-metrics.txt)', () => {
    const planned = plannedMetrics();

    test('lists the series issue 5 asks for that are not exported yet', () => {
      expect(planned.map((p) => p.name)).toEqual(
        expect.arrayContaining(['relay_events_waiting', 'relay_delivery_latency_seconds', 'relay_redis_up', 'relay_redis_command_duration_seconds']),
      );
    });

    test.each(planned.map((p) => [p.name, p] as const))('%s is still to come: once a node exports it, add its panel or alert and drop it from the list', (name) => {
      expect(families.has(name)).toBe(false);
    });

    test('names follow Prometheus conventions and the PromQL waiting for them parses', () => {
      for (const metric of planned) {
        expect(metric.name).toMatch(/^relay_[a-z_]+$/);
        if (metric.type === 'counter') expect(metric.name).toMatch(/_total$/);
        if (metric.type === 'histogram') expect(metric.name).toMatch(/_seconds$/);
        if (metric.type === 'gauge') expect(metric.name).not.toMatch(/_total$/);
        expect(['counter', 'gauge', 'histogram']).toContain(metric.type);
        const query = parsePromQL(metric.expr);
        expect([metric.name, query.errors]).toEqual([metric.name, []]);
        const names = planned.map((p) => p.name);
        for (const selector of query.selectors) {
          const base = selector.metric.replace(/_(bucket|sum|count)$/, '');
          expect(names.includes(selector.metric) || names.includes(base) || families.has(selector.metric)).toBe(true);
        }
        // label names are never ids: bounded sets only
        for (const label of metric.labels) expect(['agent', 'command', 'role', 'reason', 'code']).toContain(label);
      }
    });

    test('no dashboard panel or alert uses a planned series yet', () => {
      const names = new Set(planned.map((p) => p.name));
      for (const query of allQueries()) {
        for (const selector of parsePromQL(query.expr).selectors) {
          expect([query.where, names.has(selector.metric.replace(/_(bucket|sum|count)$/, ''))]).toEqual([query.where, false]);
        }
      }
    });
  });
});
