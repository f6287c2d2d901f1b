import { h, when } from './dom';

interface Step {
  step: string;
  at: string;
  after_ms: number;
  node?: string;
  [detail: string]: unknown;
}

export interface Timeline {
  event_id: string;
  app_id: string | null;
  agent_id: string | null;
  thread_id: string | null;
  session_key: string | null;
  accepted_at: string | null;
  expires_at: string | null;
  state: string;
  outcome: string | null;
  latencies_ms: { delivered: number | null; first_token: number | null; final: number | null };
  steps: Step[];
}

const STEP_NAMES: Record<string, string> = {
  accepted: 'Accepted',
  queued: 'Queued',
  delivered: 'Delivered',
  first_token: 'First token',
  final: 'Final frame',
  webhook: 'Webhook try',
};

const ms = (value: number | null) => (value === null ? '—' : `${value} ms`);

/** What happened to one event: a summary, then each step with its node and time since accepted. */
export function renderTimeline(t: Timeline): HTMLElement {
  const summary: [string, string][] = [
    ['Event', t.event_id],
    ['From app', t.app_id ?? '—'],
    ['To agent', t.agent_id ?? '—'],
    ['Thread', t.thread_id ?? '—'],
    ['Session', t.session_key ?? '—'],
    ['Accepted', when(t.accepted_at)],
    ['State', t.state + (t.outcome ? ` (${t.outcome})` : '')],
    ['To delivery', ms(t.latencies_ms.delivered)],
    ['To first token', ms(t.latencies_ms.first_token)],
    ['To final frame', ms(t.latencies_ms.final)],
  ];
  const details = (s: Step) =>
    Object.entries(s)
      .filter(([k]) => !['step', 'at', 'after_ms', 'node'].includes(k))
      .map(([k, v]) => `${k.replace(/_/g, ' ')}: ${String(v)}`)
      .join(', ');
  return h(
    'div',
    { class: 'timeline' },
    h('dl', {}, ...summary.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
    h(
      'div',
      { class: 'scroll' },
      h(
        'table',
        {},
        h('caption', {}, `Timeline of ${t.event_id}`),
        h('thead', {}, h('tr', {}, ...['Step', 'When', 'After accepted', 'Node', 'Details'].map((c) => h('th', { scope: 'col' }, c)))),
        h(
          'tbody',
          {},
          ...t.steps.map((s) =>
            h('tr', {}, h('th', { scope: 'row' }, STEP_NAMES[s.step] ?? s.step), h('td', {}, when(s.at)), h('td', {}, `${s.after_ms} ms`), h('td', {}, s.node ?? '—'), h('td', {}, details(s))),
          ),
        ),
      ),
    ),
  );
}
