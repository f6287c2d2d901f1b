import type { AgentActivity } from './api';
import { COLORS, lineChart, type LineChart } from './charts';
import { byId, h, when } from './dom';
import { EVENT_HEADERS, eventRows } from './recent';
import { ms, replaceKeepingFocus, table } from './view-helpers';

// One agent's activity: its connections, its queue, its recent failures and its latency over
// the last hour. The panel is built once per agent and redrawn in place at each refresh.

let chart: LineChart | undefined;
let shownAgent: string | undefined;

export function shownAgentActivity(): string | undefined {
  return shownAgent;
}

export function closeAgentActivity(): void {
  shownAgent = undefined;
  byId('agent-activity').hidden = true;
}

export function renderAgentActivity(a: AgentActivity, openTimeline: (eventId: string) => void, close: () => void): void {
  const panel = byId('agent-activity');
  if (shownAgent !== a.agent_id) {
    shownAgent = a.agent_id;
    const plot = h('div', { class: 'plot', role: 'img', id: 'chart-agent-latency' });
    panel.replaceChildren(
      h(
        'div',
        { class: 'row' },
        h('h2', { id: 'agent-activity-heading', tabindex: -1 }, 'Activity of agent ', h('code', {}, a.agent_id)),
        h('button', { type: 'button', class: 'secondary', onclick: close }, 'Close'),
      ),
      h('div', { id: 'agent-activity-numbers' }),
      h('figure', { class: 'chart' }, h('figcaption', {}, 'Latency over the last hour (per minute)'), plot),
      h('h3', {}, 'Connections'),
      h('div', { id: 'agent-activity-connections' }),
      h('h3', {}, 'Waiting and in flight'),
      h('div', { id: 'agent-activity-open' }),
      h('h3', {}, 'Recent failures and timeouts'),
      h('div', { id: 'agent-activity-failures' }),
    );
    panel.hidden = false;
    chart = lineChart(plot, 'ms');
    byId('agent-activity-heading').focus();
  }
  const failedText = Object.entries(a.failed).map(([code, n]) => `${code} ${n}`).join(', ') || 'none';
  replaceKeepingFocus(byId('agent-activity-numbers'), JSON.stringify([a.waiting, a.in_flight, a.accepted, a.answered, a.failed, a.time_to_first_token_ms, a.time_to_reply_ms]), () => [
    h(
      'dl',
      { class: 'cards' },
      ...[
        ['Waiting', `${a.waiting} of ${a.max_queue}`],
        ['In flight', String(a.in_flight)],
        ['Accepted / answered', `${a.accepted} / ${a.answered}`],
        ['Failed', failedText],
        ['First token p50 / p95', a.time_to_first_token_ms ? `${ms(a.time_to_first_token_ms.p50)} / ${ms(a.time_to_first_token_ms.p95)}` : '—'],
        ['Reply p50 / p95', a.time_to_reply_ms ? `${ms(a.time_to_reply_ms.p50)} / ${ms(a.time_to_reply_ms.p95)}` : '—'],
      ].map(([k, v]) => h('div', { class: 'card' }, h('dt', {}, k as string), h('dd', {}, v as string))),
    ),
  ]);
  chart?.update(
    a.latency.minute,
    [
      { label: 'First token p50', color: COLORS.p50, values: a.latency.first_token_p50 },
      { label: 'First token p95', color: COLORS.p95, values: a.latency.first_token_p95 },
      { label: 'Reply p50', color: COLORS.answered, values: a.latency.reply_p50 },
      { label: 'Reply p95', color: COLORS.failed[0] as string, values: a.latency.reply_p95 },
    ],
    `Latency of ${a.agent_id} over the last hour: first token p50 ${ms(a.time_to_first_token_ms?.p50)}, p95 ${ms(a.time_to_first_token_ms?.p95)}; reply p50 ${ms(a.time_to_reply_ms?.p50)}, p95 ${ms(a.time_to_reply_ms?.p95)}.`,
  );
  replaceKeepingFocus(byId('agent-activity-connections'), JSON.stringify(a.connections), () => [
    table(
      `Socket connections of ${a.agent_id}`,
      ['Kind', 'Connection', 'Node', 'Since'],
      a.connections.socket.map((c) => h('tr', {}, h('td', {}, 'WebSocket'), h('td', {}, h('code', {}, c.connection_id)), h('td', {}, c.node), h('td', {}, when(c.since)))),
      'No WebSocket connections: the agent is offline.',
    ),
    // HTTP agents arrive with a later release; their connections will be listed here.
    h('p', { class: 'muted' }, a.connections.http.length ? `${a.connections.http.length} HTTP connections.` : 'No HTTP connections.'),
  ]);
  replaceKeepingFocus(byId('agent-activity-open'), JSON.stringify(a.open_events), () => [
    table(`Open events of ${a.agent_id}`, EVENT_HEADERS, eventRows(a.open_events, openTimeline), 'No event waiting or in flight among the recent events.'),
  ]);
  replaceKeepingFocus(byId('agent-activity-failures'), JSON.stringify(a.recent_failures), () => [
    table(`Recent failures of ${a.agent_id}`, EVENT_HEADERS, eventRows(a.recent_failures, openTimeline), 'No failures or timeouts among the recent events.'),
  ]);
}
