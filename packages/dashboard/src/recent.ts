import type { RecentEvent } from './api';
import { byId, h, when } from './dom';
import { ms, replaceKeepingFocus, table } from './view-helpers';

// Recent events, cluster-wide, filtered by the form above the list; each row opens its timeline.

const OUTCOMES: [string, string][] = [
  ['', 'Any outcome'],
  ['answered', 'Answered'],
  ['failed', 'Failed (any code)'],
  ['open', 'Not ended yet'],
  ['AGENT_TIMEOUT', 'AGENT_TIMEOUT'],
  ['EVENT_EXPIRED', 'EVENT_EXPIRED'],
  ['CANCELLED', 'CANCELLED'],
  ['reply_error', 'Agent replied with an error'],
];
const SINCE: [string, string][] = [
  ['', 'Any time kept'],
  ['5', 'Last 5 minutes'],
  ['15', 'Last 15 minutes'],
  ['60', 'Last hour'],
  ['1440', 'Last 24 hours'],
];

const form = byId<HTMLFormElement>('recent-filter');

/** Fills the filter's choices: the apps and agents come from the registry, and may change. */
export function fillRecentFilter(appIds: string[], agentIds: string[]): void {
  const fill = (name: string, options: [string, string][]) => {
    const select = form.elements.namedItem(name) as HTMLSelectElement;
    const key = JSON.stringify(options);
    if (select.dataset.options === key) return;
    const chosen = select.value;
    select.replaceChildren(...options.map(([value, label]) => h('option', { value }, label)));
    select.value = options.some(([v]) => v === chosen) ? chosen : '';
    select.dataset.options = key;
  };
  fill('app', [['', 'Every app'], ...appIds.map((id): [string, string] => [id, id])]);
  fill('agent', [['', 'Every agent'], ...agentIds.map((id): [string, string] => [id, id])]);
  fill('outcome', OUTCOMES);
  fill('since', SINCE);
}

/** The query string of the filter as it stands. */
export function recentQuery(): string {
  const data = new FormData(form);
  const query = new URLSearchParams({ limit: '100' });
  for (const name of ['app', 'agent', 'outcome']) {
    const value = String(data.get(name) ?? '');
    if (value) query.set(name, value);
  }
  const minutes = Number(data.get('since') || 0);
  if (minutes) query.set('since', new Date(Date.now() - minutes * 60_000).toISOString());
  return query.toString();
}

export function onRecentFilter(apply: () => void): void {
  form.addEventListener('change', apply);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    apply();
  });
}

const stateText = (e: RecentEvent) => (e.state === 'in_flight' ? 'in flight' : e.state);

/** Rows for a list of events; `openTimeline` is the click-through (a button, so keys work). */
export function eventRows(events: RecentEvent[], openTimeline: (eventId: string) => void): HTMLTableRowElement[] {
  return events.map((e) =>
    h(
      'tr',
      { class: e.outcome && (!e.outcome.startsWith('reply_') || e.outcome === 'reply_error') ? 'failed' : undefined },
      h('td', {}, h('button', { type: 'button', class: 'link', 'data-focus-key': e.event_id, 'aria-label': `Timeline of ${e.event_id}`, onclick: () => openTimeline(e.event_id) }, h('code', {}, e.event_id))),
      h('td', {}, when(e.accepted_at)),
      h('td', {}, e.app_id),
      h('td', {}, e.agent_id),
      h('td', { class: 'thread' }, e.thread_id),
      h('td', {}, stateText(e)),
      h('td', {}, e.outcome ?? '—'),
      h('td', {}, String(e.attempt)),
      h('td', {}, `${ms(e.latencies_ms.delivered)} / ${ms(e.latencies_ms.first_token)} / ${ms(e.latencies_ms.final)}`),
    ),
  );
}

export const EVENT_HEADERS = ['Event', 'Accepted', 'App', 'Agent', 'Thread', 'State', 'Outcome', 'Attempt', 'Delivered / first token / final'];

export function renderRecent(events: RecentEvent[], matched: number, openTimeline: (eventId: string) => void): void {
  replaceKeepingFocus(byId('recent-list'), JSON.stringify(events), () => [
    h('p', { class: 'muted' }, matched > events.length ? `The newest ${events.length} of ${matched} matching events.` : `${matched} matching ${matched === 1 ? 'event' : 'events'}.`),
    table('Recent events', EVENT_HEADERS, eventRows(events, openTimeline), 'No events match.'),
  ]);
}
