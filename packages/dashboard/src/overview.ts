import type { Overview } from './api';
import { COLORS, lineChart, type Series } from './charts';
import { byId, h } from './dom';
import { ms, replaceKeepingFocus, sum, table } from './view-helpers';

// The live overview: what the whole cluster did in the last minutes, redrawn at each refresh.

const eventsChart = lineChart(byId('chart-events'), 'events / min');
const tokensChart = lineChart(byId('chart-tokens'), 'tokens / s');


export function renderOverview(o: Overview, openAgent: (agentId: string) => void): void {
  const failedTotal = sum(Object.values(o.totals.failed));
  const failedText = Object.entries(o.totals.failed).map(([code, n]) => `${code} ${n}`).join(', ');
  const lastTokens = o.series.tokens_per_s[o.series.tokens_per_s.length - 1] ?? 0;
  replaceKeepingFocus(byId('overview-totals'), JSON.stringify([o.totals, lastTokens, o.connections.total]), () => [
    h(
      'dl',
      { class: 'cards' },
      ...[
        ['Accepted', String(o.totals.accepted)],
        ['Answered', String(o.totals.answered)],
        ['Failed', String(failedTotal), failedText],
        ['Tokens per second now', String(lastTokens)],
        ['Connections', String(o.connections.total)],
      ].map(([k, v, detail]) => h('div', { class: 'card' }, h('dt', {}, k as string), h('dd', {}, v as string, detail ? h('small', {}, ` (${detail})`) : null))),
    ),
  ]);

  const failed: Series[] = Object.entries(o.series.failed).map(([code, values], i) => ({
    label: `Failed ${code}`,
    color: COLORS.failed[i % COLORS.failed.length] as string,
    values,
    dashed: true,
  }));
  eventsChart.update(
    o.series.minute,
    [
      { label: 'Accepted', color: COLORS.accepted, values: o.series.accepted },
      { label: 'Answered', color: COLORS.answered, values: o.series.answered },
      ...failed,
    ],
    `Events per minute over the last ${o.minutes} minutes: ${o.totals.accepted} accepted, ${o.totals.answered} answered, ${failedTotal} failed${failedText ? ` (${failedText})` : ''}.`,
  );
  const peak = Math.max(0, ...o.series.tokens_per_s);
  tokensChart.update(
    o.series.minute,
    [{ label: 'Tokens per second', color: COLORS.tokens, values: o.series.tokens_per_s }],
    `Tokens per second over the last ${o.minutes} minutes: ${lastTokens} now, ${peak} at most.`,
  );

  const agentRows = o.agents.map((a) =>
    h(
      'tr',
      {},
      h('th', { scope: 'row' }, h('code', {}, a.agent_id)),
      h('td', {}, `${a.accepted} / ${a.answered} / ${a.failed}`),
      h('td', {}, a.time_to_first_token_ms ? `${ms(a.time_to_first_token_ms.p50)} / ${ms(a.time_to_first_token_ms.p95)}` : '—'),
      h('td', {}, a.time_to_reply_ms ? `${ms(a.time_to_reply_ms.p50)} / ${ms(a.time_to_reply_ms.p95)}` : '—'),
      h(
        'td',
        {},
        h('meter', { min: 0, max: a.max_queue, value: a.waiting, 'aria-label': `${a.waiting} of ${a.max_queue} waiting` }),
        ` ${a.waiting} waiting, ${a.in_flight} in flight`,
      ),
      h('td', {}, String(a.connections)),
      h('td', {}, h('button', { type: 'button', class: 'secondary', 'data-focus-key': `agent-${a.agent_id}`, onclick: () => openAgent(a.agent_id) }, `Activity of ${a.agent_id}`)),
    ),
  );
  replaceKeepingFocus(byId('overview-agents'), JSON.stringify(o.agents), () => [
    table(
      'Agents in the window',
      ['Agent', 'Accepted / answered / failed', 'First token p50 / p95', 'Reply p50 / p95', 'Queue', 'Connections', ''],
      agentRows,
      'No agents yet.',
    ),
  ]);

  const counts = (caption: string, what: string, by: Record<string, number>) =>
    table(
      caption,
      [what, 'Connections'],
      Object.entries(by)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([id, n]) => h('tr', {}, h('th', { scope: 'row' }, h('code', {}, id)), h('td', {}, String(n)))),
      `No ${what.toLowerCase()} connected.`,
      true,
    );
  replaceKeepingFocus(byId('overview-connections'), JSON.stringify(o.connections), () => [
    h(
      'div',
      { class: 'columns' },
      counts('By app', 'App', o.connections.by_app),
      counts('By agent', 'Agent', o.connections.by_agent),
      counts('By node', 'Node', o.connections.by_node),
    ),
  ]);
}
