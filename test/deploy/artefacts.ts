import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { parser as promqlParser } from '@prometheus-io/lezer-promql';
import type { SyntaxNode } from '@lezer/common';
import { createRedisMetrics } from '../../packages/gateway/src/backends/redis/metrics';
import { createMetrics, watchQueueDepth } from '../../packages/gateway/src/relay/metrics';

/**
 * Readers for the deployment artefacts (deploy/, k8s/, docker-compose.yml) shared by the
 * test/deploy suites: YAML documents, the Dockerfile's instructions, and the metric names and
 * labels that PromQL expressions use.
 */

export const ROOT = path.resolve(__dirname, '../..');

export const read = (file: string): string => readFileSync(path.join(ROOT, file), 'utf8');

/** Every file under `dir` (relative to the root), recursively, as root-relative paths. */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(path.join(ROOT, rel)).sort()) {
      const child = path.posix.join(rel, name);
      if (statSync(path.join(ROOT, child)).isDirectory()) walk(child);
      else out.push(child);
    }
  };
  walk(dir);
  return out;
}

export const isYaml = (file: string) => /\.ya?ml$/.test(file);

/** Every YAML file of the deployment: deploy/, k8s/ and the compose file. */
export function deploymentYamlFiles(): string[] {
  return [...filesUnder('deploy'), ...filesUnder('k8s'), 'docker-compose.yml', 'docker-compose.cluster.yml'].filter(isYaml);
}

/**
 * All documents of a YAML file, parsed strictly: any error or warning (duplicate keys, bad
 * indentation, tabs) throws. Merge keys (`<<:`) are allowed, as Docker Compose reads them.
 */
export function yamlDocuments(file: string): unknown[] {
  return parseYaml(read(file), file);
}

export function parseYaml(text: string, file: string): unknown[] {
  const docs = YAML.parseAllDocuments(text, { merge: true, uniqueKeys: true, prettyErrors: true });
  const list = Array.isArray(docs) ? docs : [docs];
  const out: unknown[] = [];
  for (const doc of list) {
    const problems = [...doc.errors, ...doc.warnings];
    if (problems.length > 0) throw new Error(`${file}: ${problems.map((p) => p.message).join('; ')}`);
    const value = doc.toJS({ maxAliasCount: 100 });
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

export function yamlDocument<T = any>(file: string): T { // eslint-disable-line @typescript-eslint/no-explicit-any
  const docs = yamlDocuments(file);
  if (docs.length !== 1) throw new Error(`${file}: expected one YAML document, found ${docs.length}`);
  return docs[0] as T;
}

// ---- Kubernetes ------------------------------------------------------------------------------

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** The resource files kustomization.yaml lists, each with the objects it holds. */
export function kustomizeResources(): { file: string; objects: K8sObject[] }[] {
  const kustomization = yamlDocument('k8s/kustomization.yaml');
  return (kustomization.resources as string[]).map((resource) => {
    const file = path.posix.join('k8s', resource);
    return { file, objects: yamlDocuments(file) as K8sObject[] };
  });
}

export function k8sObjects(): K8sObject[] {
  return kustomizeResources().flatMap((r) => r.objects);
}

export function k8sObject(kind: string, name: string): K8sObject {
  const found = k8sObjects().filter((o) => o.kind === kind && o.metadata.name === name);
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name} in k8s/, found ${found.length}`);
  return found[0] as K8sObject;
}

/** Whether a label selector's matchLabels select an object with these labels. */
export function selects(matchLabels: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  return Object.keys(matchLabels).length > 0 && Object.entries(matchLabels).every(([k, v]) => labels?.[k] === v);
}

// ---- Dockerfile ------------------------------------------------------------------------------

export interface Instruction {
  keyword: string;
  args: string;
  /** Index of the build stage (FROM) the instruction belongs to. */
  stage: number;
}

export interface Stage {
  image: string;
  name: string | undefined;
  instructions: Instruction[];
}

/** Parses a Dockerfile into stages of instructions (comments dropped, continuations joined). */
export function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (pending === '' && /^\s*(#|$)/.test(line)) continue;
    if (pending !== '' && /^\s*#/.test(line)) continue; // comments inside a continuation
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    logical.push((pending + line).trim());
    pending = '';
  }
  if (pending !== '') logical.push(pending.trim());
  const stages: Stage[] = [];
  for (const line of logical) {
    const match = /^(\S+)\s*(.*)$/s.exec(line);
    if (!match) continue;
    const keyword = (match[1] as string).toUpperCase();
    const args = (match[2] as string).trim();
    if (keyword === 'FROM') {
      const from = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (!from) throw new Error(`cannot read FROM ${args}`);
      stages.push({ image: from[1] as string, name: from[2], instructions: [] });
      continue;
    }
    const stage = stages.length - 1;
    if (stage < 0) {
      if (keyword === 'ARG') continue;
      throw new Error(`${keyword} before the first FROM`);
    }
    (stages[stage] as Stage).instructions.push({ keyword, args, stage });
  }
  return stages;
}

/** `ENV A=1 B=2` (or the legacy `ENV A 1`) as pairs. */
export function envPairs(args: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!args.includes('=')) {
    const [name, ...rest] = args.split(/\s+/);
    out[name as string] = rest.join(' ');
    return out;
  }
  for (const match of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
    const value = match[2] as string;
    out[match[1] as string] = value.startsWith('"') ? (JSON.parse(value) as string) : value;
  }
  return out;
}

/** The exec (JSON array) form of CMD, HEALTHCHECK CMD and the like. */
export function execForm(args: string): string[] {
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) throw new Error(`not an exec form: ${args}`);
  return parsed as string[];
}

// ---- PromQL ----------------------------------------------------------------------------------

export interface Selector {
  metric: string;
  /** Label matchers: name, operator, value. */
  matchers: { label: string; op: string; value: string }[];
}

export interface PromQL {
  expr: string;
  selectors: Selector[];
  /** Labels named in `by (...)` / `without (...)`, with the metrics inside that aggregation. */
  groupings: { labels: string[]; metrics: string[] }[];
  /** Syntax errors the parser reported, with the text around each. */
  errors: string[];
}

/** Grafana's interval variables, replaced by a duration so that the query parses as PromQL. */
export function fromGrafana(expr: string): string {
  return expr.replace(/\$__(rate_interval|interval|range)\b/g, '5m');
}

/** Parses PromQL with Prometheus's own grammar and lists the series and labels it names. */
export function parsePromQL(expr: string): PromQL {
  const tree = promqlParser.parse(expr);
  const text = (node: SyntaxNode) => expr.slice(node.from, node.to);
  const errors: string[] = [];
  const selectors: Selector[] = [];
  const groupings: PromQL['groupings'] = [];
  const descendants = (node: SyntaxNode, name: string): SyntaxNode[] => {
    const out: SyntaxNode[] = [];
    const cursor = node.cursor();
    cursor.iterate((n) => {
      if (n.name === name) out.push(n.node);
    });
    return out;
  };
  const selectorOf = (node: SyntaxNode): Selector => {
    const id = node.getChild('Identifier');
    const matchers = descendants(node, 'UnquotedLabelMatcher').map((m) => {
      const label = m.getChild('LabelName');
      const op = m.getChild('MatchOp');
      const value = m.getChild('StringLiteral');
      return {
        label: label ? text(label) : '',
        op: op ? text(op) : '',
        value: value ? (JSON.parse(text(value).replace(/^'|'$/g, '"')) as string) : '',
      };
    });
    return { metric: id ? text(id) : '', matchers };
  };
  tree.cursor().iterate((n) => {
    if (n.type.isError) errors.push(`near "${expr.slice(Math.max(0, n.from - 10), n.to + 10)}"`);
    if (n.name === 'VectorSelector') selectors.push(selectorOf(n.node));
    if (n.name === 'AggregateExpr') {
      const modifier = n.node.getChild('AggregateModifier');
      if (modifier) {
        groupings.push({
          labels: descendants(modifier, 'LabelName').map(text),
          metrics: descendants(n.node, 'VectorSelector').map((s) => selectorOf(s).metric),
        });
      }
    }
  });
  if (selectors.some((s) => s.metric === '')) errors.push('a selector without a metric name');
  return { expr, selectors, groupings, errors };
}

// ---- Alert rules and the dashboard -----------------------------------------------------------

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface RuleGroup {
  name: string;
  rules: AlertRule[];
}

export const composeRuleGroups = (): RuleGroup[] => yamlDocument('deploy/prometheus/alerts.yml').groups;
export const k8sRuleGroups = (): RuleGroup[] => k8sObject('PrometheusRule', 'relay').spec.groups;

export const DASHBOARD_FILE = 'deploy/grafana/dashboards/relay.json';

export interface DashboardQuery {
  panel: string;
  expr: string;
}

/** Every PromQL query of the dashboard: panel targets (rows included) and query variables. */
export function dashboardQueries(): DashboardQuery[] {
  const dashboard = JSON.parse(read(DASHBOARD_FILE));
  const out: DashboardQuery[] = [];
  const visit = (panels: any[]) => { // eslint-disable-line @typescript-eslint/no-explicit-any
    for (const panel of panels ?? []) {
      for (const target of panel.targets ?? []) out.push({ panel: panel.title, expr: target.expr });
      visit(panel.panels);
    }
  };
  visit(dashboard.panels);
  for (const variable of dashboard.templating?.list ?? []) {
    if (variable.type !== 'query') continue;
    const query: string = typeof variable.query === 'string' ? variable.query : variable.query.query;
    // label_values(metric, label) is Grafana's, not PromQL: its first argument is a series.
    const labelValues = /^label_values\(\s*([^,]+?)\s*,\s*([a-zA-Z_]+)\s*\)$/.exec(query);
    out.push({ panel: `variable ${variable.name}`, expr: labelValues ? (labelValues[1] as string) : query });
  }
  return out;
}

/**
 * Every series a node on Redis can export, with its label names, from the code that builds the
 * node's registry (a node on the memory backend has all but relay_redis_*). The queue source
 * is never read: building the registry reads no values.
 */
export function nodeSeries(): { name: string; type: string; labelNames: string[] }[] {
  const metrics = createMetrics();
  createRedisMetrics(metrics.registry, () => true);
  watchQueueDepth(metrics, async () => null);
  return metrics.registry.getMetricsAsArray().map((m) => {
    const { name, type, labelNames } = m as unknown as { name: string; type: string; labelNames?: string[] };
    return { name, type, labelNames: [...(labelNames ?? [])] };
  });
}

/** Metric families in Prometheus exposition text: name → type, from the `# TYPE` lines. */
export function metricFamilies(exposition: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const match of exposition.matchAll(/^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)$/gm)) {
    out.set(match[1] as string, match[2] as string);
  }
  return out;
}

/** The family a sample name belongs to: `x_bucket`, `x_sum`, `x_count` of a histogram are `x`. */
export function familyOf(name: string, families: Map<string, string>): string | undefined {
  if (families.has(name)) return name;
  const base = /^(.*)_(bucket|sum|count)$/.exec(name)?.[1];
  if (base && ['histogram', 'summary'].includes(families.get(base) ?? '')) {
    if (name.endsWith('_bucket') && families.get(base) !== 'histogram') return undefined;
    return base;
  }
  return undefined;
}

/** Parses a Go/Prometheus duration such as `1h`, `30s`, `1m30s`, `500ms` into milliseconds. */
export function durationMs(text: string): number {
  const units: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  const parts = [...text.matchAll(/(\d+)(ms|s|m|h|d)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) throw new Error(`not a duration: ${text}`);
  return parts.reduce((sum, p) => sum + Number(p[1]) * (units[p[2] as string] as number), 0);
}

/**
 * Memory sizes in bytes: Kubernetes quantities (`512Mi`, `1Gi`) and Docker / Redis sizes (`1g`,
 * `1536mb`), which count in binary units too. Kubernetes' decimal `M`/`G` are refused here.
 */
export function bytesOf(quantity: string): number {
  const match = /^(\d+)(Ki|Mi|Gi|b|k|kb|m|mb|g|gb)?$/.exec(quantity.trim());
  if (!match) throw new Error(`not a memory size this test reads: ${quantity}`);
  const factors: Record<string, number> = {
    '': 1, b: 1, Ki: 2 ** 10, k: 2 ** 10, kb: 2 ** 10, Mi: 2 ** 20, m: 2 ** 20, mb: 2 ** 20, Gi: 2 ** 30, g: 2 ** 30, gb: 2 ** 30,
  };
  return Number(match[1]) * (factors[match[2] ?? ''] as number);
}

// ---- HAProxy ---------------------------------------------------------------------------------

export interface HaproxySection {
  kind: string;
  name: string;
  /** Directive lines, trimmed, comments dropped. */
  lines: string[];
}

/** Splits haproxy.cfg into its sections (global, defaults, frontend x, backend y, ...). */
export function parseHaproxy(text: string): HaproxySection[] {
  const sections: HaproxySection[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/(^|\s)#.*$/, '').trimEnd();
    if (line.trim() === '') continue;
    if (!/^\s/.test(line)) {
      const [kind, name = ''] = line.trim().split(/\s+/);
      sections.push({ kind: kind as string, name, lines: [] });
    } else {
      const current = sections[sections.length - 1];
      if (!current) throw new Error(`haproxy.cfg: directive outside a section: ${line}`);
      current.lines.push(line.trim());
    }
  }
  return sections;
}

/** The path HAProxy's health check asks for in a backend. */
export function haproxyCheckPath(backend: HaproxySection): string | undefined {
  for (const line of backend.lines) {
    const send = /^http-check send .*\buri (\S+)/.exec(line);
    if (send) return send[1];
    const legacy = /^option httpchk (?:\S+ )?(\/\S*)/.exec(line);
    if (legacy) return legacy[1];
  }
  return undefined;
}

/** The HEALTHCHECK's command (exec form) from its instruction arguments. */
export function healthcheckCommand(args: string): string[] {
  const match = /\bCMD\s+(\[.*\])\s*$/s.exec(args);
  if (!match) throw new Error(`HEALTHCHECK without an exec-form CMD: ${args}`);
  return execForm(match[1] as string);
}
