import { api, ApiError, session, type Agent, type AgentActivity, type App, type Connection, type Overview, type RecentEvent, type Token, type WebhookTries } from './api';
import { closeAgentActivity, renderAgentActivity, shownAgentActivity } from './agent-activity';
import { byId, field, h, when } from './dom';
import { renderOverview } from './overview';
import { fillRecentFilter, onRecentFilter, recentQuery, renderRecent } from './recent';
import { renderTimeline } from './timeline';
import { replaceKeepingFocus, table } from './view-helpers';
import { webhookSection } from './webhooks';

// The Relay Dashboard: one page over the admin API. Lists refresh every few seconds; every
// action says what happened in the status line, and every failure says why in the alert box
// (and marks the offending field when the API names one).

const REFRESH_MS = 3_000;
const ID_PATTERN = '[a-z0-9][a-z0-9_\\-]{0,63}';

type Role = 'app' | 'agent';
let apps: App[] = [];
let agents: Agent[] = [];
let refreshTimer: number | undefined;

const alertBox = byId('alert');
const statusBox = byId('status');

function say(message: string): void {
  alertBox.hidden = true;
  statusBox.textContent = message;
}

function complain(context: string, err: unknown): void {
  if (err instanceof ApiError && err.status === 401) {
    signOut('The relay refused the admin token. Sign in again.');
    return;
  }
  const message = err instanceof ApiError ? `${err.message}${err.code === 'network' ? '' : ` (${err.code})`}` : String(err);
  alertBox.textContent = `${context}: ${message}`;
  alertBox.hidden = false;
}

/** Runs a form's action; an API error that names a field marks that input and moves focus to it. */
function onSubmit(form: HTMLFormElement, context: string, action: (data: FormData) => Promise<void>): void {
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
    const button = form.querySelector<HTMLButtonElement>('button[type=submit]');
    if (button) button.disabled = true;
    action(new FormData(form))
      .catch((err: unknown) => {
        complain(context, err);
        const name = err instanceof ApiError ? err.field?.split('.')[0] : undefined;
        const input = name ? form.querySelector<HTMLElement>(`[name="${CSS.escape(name)}"]`) : null;
        if (input) {
          input.setAttribute('aria-invalid', 'true');
          input.focus();
        }
      })
      .finally(() => {
        if (button) button.disabled = false;
      });
  });
}

const text = (data: FormData, name: string): string => String(data.get(name) ?? '').trim();
/** A number field: left empty, it is not sent (the relay's default applies). */
const num = (data: FormData, name: string, scale = 1): number | undefined => {
  const value = text(data, name);
  return value === '' ? undefined : Number(value) * scale;
};
const compact = <T extends Record<string, unknown>>(o: T): Partial<T> =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== '')) as Partial<T>;
const list = (value: string): string[] => value.split(/[\s,]+/).filter(Boolean);

// ---- signing in ----------------------------------------------------------------------------

function enter(): void {
  byId('signed-out').hidden = true;
  byId('app').hidden = false;
  byId('sign-out').hidden = false;
  void refresh();
  refreshTimer = window.setInterval(() => void refresh(), REFRESH_MS);
  byId('overview-heading').focus();
}

function signOut(message?: string): void {
  session.clear();
  window.clearInterval(refreshTimer);
  byId('manage').hidden = true;
  closeAgentActivity();
  byId('app').hidden = true;
  byId('sign-out').hidden = true;
  byId('signed-out').hidden = false;
  const error = byId('signin-error');
  error.textContent = message ?? '';
  error.hidden = !message;
  const input = byId<HTMLInputElement>('admin-token');
  input.value = '';
  input.focus();
}

onSubmit(byId<HTMLFormElement>('signin-form'), 'Sign-in failed', async (data) => {
  const token = text(data, 'token');
  const error = byId('signin-error');
  try {
    await api('GET', '/apps', undefined, token);
  } catch (err) {
    error.textContent =
      err instanceof ApiError && err.status === 401
        ? 'That admin token was refused. It is the RELAY_ADMIN_TOKEN the relay runs with.'
        : err instanceof ApiError && err.status === 404
          ? 'The admin API is off on this relay: start it with RELAY_ADMIN_TOKEN set.'
          : `Could not sign in: ${(err as Error).message}`;
    error.hidden = false;
    byId('admin-token').setAttribute('aria-invalid', 'true');
    byId('admin-token').focus();
    return;
  }
  error.hidden = true;
  session.set(token);
  enter();
});
byId('sign-out').addEventListener('click', () => signOut());

// ---- lists ---------------------------------------------------------------------------------

async function refresh(): Promise<void> {
  await Promise.all([refreshRegistry(), refreshActivity()]);
}

async function refreshRegistry(): Promise<void> {
  try {
    const [a, g, c] = await Promise.all([
      api<{ apps: App[] }>('GET', '/apps'),
      api<{ agents: Agent[] }>('GET', '/agents'),
      api<{ connections: Connection[] }>('GET', '/connections'),
    ]);
    apps = a.apps;
    agents = g.agents;
    renderApps();
    renderAgents();
    renderConnections(c.connections);
    fillRecentFilter(apps.map((x) => x.id), agents.map((x) => x.id));
    byId('updated').textContent = `Updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    complain('Could not load the registry', err);
  }
}

// ---- live activity -------------------------------------------------------------------------

async function refreshActivity(): Promise<void> {
  const minutes = byId<HTMLSelectElement>('overview-minutes').value;
  const agentId = shownAgentActivity();
  try {
    const [overview, recent, agent] = await Promise.all([
      api<Overview>('GET', `/activity?minutes=${encodeURIComponent(minutes)}`),
      api<{ events: RecentEvent[]; matched: number }>('GET', `/activity/events?${recentQuery()}`),
      // An agent deleted meanwhile closes its panel instead of failing the whole refresh.
      agentId
        ? api<AgentActivity>('GET', `/activity/agents/${encodeURIComponent(agentId)}`).catch((err: unknown) => {
            if (!(err instanceof ApiError && err.status === 404)) throw err;
            closeAgentActivity();
            return undefined;
          })
        : Promise.resolve(undefined),
    ]);
    renderOverview(overview, (id) => void openAgentActivity(id));
    renderRecent(recent.events, recent.matched, (id) => void openTimeline(id));
    if (agent && shownAgentActivity() === agent.agent_id) renderAgentActivity(agent, (id) => void openTimeline(id), closeAgentPanel);
  } catch (err) {
    complain('Could not load the activity', err);
  }
}

async function openAgentActivity(agentId: string): Promise<void> {
  try {
    const agent = await api<AgentActivity>('GET', `/activity/agents/${encodeURIComponent(agentId)}`);
    renderAgentActivity(agent, (id) => void openTimeline(id), closeAgentPanel);
  } catch (err) {
    complain(`Could not load the activity of ${agentId}`, err);
  }
}

function closeAgentPanel(): void {
  const agentId = shownAgentActivity();
  closeAgentActivity();
  byId('overview-agents').querySelector<HTMLElement>(`[data-focus-key="agent-${CSS.escape(agentId ?? '')}"]`)?.focus();
}

byId('overview-minutes').addEventListener('change', () => void refreshActivity());
onRecentFilter(() => void refreshActivity());

const manageButton = (role: Role, id: string) =>
  h('button', { type: 'button', 'aria-label': `Manage ${role} ${id}`, 'data-focus-key': `${role}-${id}`, onclick: () => void openManage(role, id) }, 'Manage');

function renderApps(): void {
  const rows = apps.map((a) =>
    h(
      'tr',
      {},
      h('th', { scope: 'row' }, h('code', {}, a.id)),
      h('td', {}, a.name),
      h('td', {}, `${a.rate_limit_per_min} / ${a.hard_rate_limit_per_min}`),
      h('td', {}, `${a.connections} of ${a.max_connections}`),
      h('td', {}, manageButton('app', a.id)),
    ),
  );
  replaceKeepingFocus(byId('apps-list'), JSON.stringify(apps), () => [
    table('Apps', ['ID', 'Name', 'Events per minute (at once / at most)', 'Connections', ''], rows, 'No apps yet.'),
  ]);
}

function renderAgents(): void {
  const rows = agents.map((a) =>
    h(
      'tr',
      {},
      h('th', { scope: 'row' }, h('code', {}, a.id)),
      h('td', {}, a.name),
      h('td', {}, h('span', { class: `status ${a.status}` }, a.status)),
      h('td', {}, `${a.connections} of ${a.max_connections}`),
      h('td', {}, `${a.waiting}`, a.waiting >= a.max_queue ? h('strong', {}, ' (full)') : null),
      h('td', {}, a.allow_apps.length ? a.allow_apps.join(', ') : h('em', {}, 'nobody')),
      h('td', {}, manageButton('agent', a.id)),
    ),
  );
  replaceKeepingFocus(byId('agents-list'), JSON.stringify(agents), () => [
    table('Agents', ['ID', 'Name', 'Status', 'Connections', 'Waiting events', 'Allowed apps', ''], rows, 'No agents yet.'),
  ]);
}

function renderConnections(connections: Connection[]): void {
  const rows = connections.map((c) =>
    h('tr', {}, h('td', {}, c.role), h('td', {}, h('code', {}, c.id)), h('td', {}, c.node), h('td', {}, when(c.since)), h('td', {}, h('code', {}, c.token_id))),
  );
  byId('connections-list').replaceChildren(
    table('Live connections', ['Role', 'App or agent', 'Node', 'Since', 'Token'], rows, 'Nobody is connected.'),
  );
}

// ---- creating ------------------------------------------------------------------------------

onSubmit(byId<HTMLFormElement>('new-app'), 'Could not create the app', async (data) => {
  const app = await api<App>('POST', '/apps', compact({
    id: text(data, 'id'),
    name: text(data, 'name'),
    rate_limit_per_min: num(data, 'rate_limit_per_min'),
    max_connections: num(data, 'max_connections'),
  }));
  byId<HTMLFormElement>('new-app').reset();
  say(`App ${app.id} created. Issue it a token under Manage.`);
  await refresh();
});

onSubmit(byId<HTMLFormElement>('new-agent'), 'Could not create the agent', async (data) => {
  const agent = await api<Agent>('POST', '/agents', compact({
    id: text(data, 'id'),
    name: text(data, 'name'),
    description: text(data, 'description'),
    allow_apps: text(data, 'allow_apps') ? list(text(data, 'allow_apps')) : undefined,
    default_ttl_ms: num(data, 'default_ttl_ms', 1000),
    max_in_flight: num(data, 'max_in_flight'),
  }));
  byId<HTMLFormElement>('new-agent').reset();
  say(`Agent ${agent.id} created. Issue it a token under Manage.`);
  await refresh();
});

// ---- managing one app or agent -------------------------------------------------------------

async function openManage(role: Role, id: string): Promise<void> {
  const panel = byId('manage');
  try {
    const [record, tokens, tries] = await Promise.all([
      api<App | Agent>('GET', `/${role}s/${id}`),
      api<{ tokens: Token[] }>('GET', `/${role}s/${id}/tokens`),
      role === 'app' ? api<WebhookTries>('GET', `/apps/${id}/webhooks`) : Promise.resolve(undefined),
    ]);
    panel.replaceChildren(...manageView(role, record, tokens.tokens, tries));
    panel.hidden = false;
    byId('manage-heading').focus();
  } catch (err) {
    complain(`Could not open ${role} ${id}`, err);
  }
}

function closeManage(): void {
  byId('manage').hidden = true;
  byId('apps-heading').focus();
}

function manageView(role: Role, record: App | Agent, tokens: Token[], tries: WebhookTries | undefined): HTMLElement[] {
  const id = record.id;
  const heading = h('h2', { id: 'manage-heading', tabindex: -1 }, `${role === 'app' ? 'App' : 'Agent'} `, h('code', {}, id));
  const close = h('button', { type: 'button', class: 'secondary', onclick: closeManage }, 'Close');
  return [
    h('div', { class: 'row' }, heading, close),
    editForm(role, record),
    role === 'agent' ? allowlistForm(record as Agent) : h('span'),
    tokensView(role, id, tokens),
    webhookSection(role, record, tries, {
      say,
      complain,
      onSubmit,
      openTimeline: (eventId) => void openTimeline(eventId),
      reopen: () => openManage(role, id),
    }),
    h(
      'section',
      { 'aria-labelledby': 'danger-heading', class: 'danger' },
      h('h3', { id: 'danger-heading' }, 'Delete'),
      h(
        'p',
        {},
        role === 'agent'
          ? 'Deleting the agent closes its connections and ends every event waiting for it with CANCELLED at the apps that sent them.'
          : 'Deleting the app closes its connections and removes it from every allowlist.',
      ),
      h('button', { type: 'button', class: 'danger', onclick: () => void remove(role, id) }, `Delete ${role} ${id}`),
    ),
  ];
}

function numberInput(name: string, value: number | undefined, min = 1): HTMLInputElement {
  return h('input', { type: 'number', name, min, step: 1, inputmode: 'numeric', value: value ?? '' });
}

function editForm(role: Role, record: App | Agent): HTMLElement {
  const fields =
    role === 'app'
      ? [
          field('Name', h('input', { name: 'name', value: record.name, required: true, maxlength: 100 })),
          field('Events per minute delivered at once', numberInput('rate_limit_per_min', (record as App).rate_limit_per_min)),
          field(
            'Events per minute accepted at most',
            numberInput('hard_rate_limit_per_min', (record as App).hard_rate_limit_per_min),
            'Above the first limit events wait; above this one they are refused (RATE_LIMITED).',
          ),
          field('Max connections', numberInput('max_connections', record.max_connections)),
        ]
      : [
          field('Name', h('input', { name: 'name', value: record.name, required: true, maxlength: 100 })),
          field('Description', h('textarea', { name: 'description', rows: 2, maxlength: 1000 }, (record as Agent).description)),
          field('Default TTL (seconds)', numberInput('default_ttl_ms', Math.round((record as Agent).default_ttl_ms / 1000)), 'How long an event may wait while the agent is offline.'),
          field('Max in flight per connection', numberInput('max_in_flight', (record as Agent).max_in_flight)),
          field('Max connections', numberInput('max_connections', record.max_connections)),
          field('Max waiting events', numberInput('max_queue', (record as Agent).max_queue)),
        ];
  const form = h('form', { 'aria-labelledby': 'edit-heading', novalidate: true }, h('h3', { id: 'edit-heading' }, 'Settings'), ...fields, h('button', { type: 'submit' }, 'Save settings'));
  onSubmit(form, `Could not save ${role} ${record.id}`, async (data) => {
    const body =
      role === 'app'
        ? compact({ name: text(data, 'name'), rate_limit_per_min: num(data, 'rate_limit_per_min'), hard_rate_limit_per_min: num(data, 'hard_rate_limit_per_min'), max_connections: num(data, 'max_connections') })
        : compact({
            name: text(data, 'name'),
            description: String(data.get('description') ?? ''),
            default_ttl_ms: num(data, 'default_ttl_ms', 1000),
            max_in_flight: num(data, 'max_in_flight'),
            max_connections: num(data, 'max_connections'),
            max_queue: num(data, 'max_queue'),
          });
    await api('PATCH', `/${role}s/${record.id}`, body);
    say(`Saved ${role} ${record.id}.`);
    await refresh();
  });
  return form;
}

function allowlistForm(agent: Agent): HTMLElement {
  const all = agent.allow_apps.includes('*');
  const boxes = [
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'apps', value: '*', checked: all }), 'Every app (*)'),
    ...apps.map((a) =>
      h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'apps', value: a.id, checked: agent.allow_apps.includes(a.id) }), a.name, ' ', h('code', {}, a.id)),
    ),
  ];
  const form = h(
    'form',
    {},
    h('fieldset', {}, h('legend', {}, `Apps allowed to send to ${agent.id}`), ...boxes),
    h('button', { type: 'submit' }, 'Save allowlist'),
  );
  onSubmit(form, `Could not save the allowlist of ${agent.id}`, async (data) => {
    const answer = await api<{ apps: string[] }>('PUT', `/agents/${agent.id}/allowlist`, { apps: data.getAll('apps').map(String) });
    say(`Allowlist of ${agent.id} saved: ${answer.apps.length ? answer.apps.join(', ') : 'nobody'}. New events follow it at once.`);
    await refresh();
  });
  return form;
}

function tokensView(role: Role, id: string, tokens: Token[]): HTMLElement {
  const secretBox = h('div', { id: 'new-secret', class: 'secret', hidden: true });
  const grace = h('input', { type: 'number', name: 'grace_s', min: 0, step: 1, value: 3600, inputmode: 'numeric' });
  const rows = tokens.map((t) =>
    h(
      'tr',
      {},
      h('th', { scope: 'row' }, h('code', {}, t.id)),
      h('td', {}, when(t.created_at)),
      h('td', {}, when(t.last_used_at)),
      h('td', {}, t.expires_at ? when(t.expires_at) : 'never'),
      h(
        'td',
        { class: 'actions' },
        h('button', { type: 'button', 'aria-label': `Rotate token ${t.id}`, onclick: () => void rotate(role, id, t.id, Number(grace.value || 0)) }, 'Rotate'),
        h('button', { type: 'button', class: 'danger', 'aria-label': `Revoke token ${t.id}`, onclick: () => void revoke(role, id, t.id) }, 'Revoke'),
      ),
    ),
  );
  return h(
    'section',
    { 'aria-labelledby': 'tokens-heading' },
    h('h3', { id: 'tokens-heading' }, 'Tokens'),
    secretBox,
    table(`Tokens of ${role} ${id}`, ['Token', 'Created', 'Last used', 'Expires', ''], rows, 'No tokens: nothing can connect as it.'),
    h('div', { class: 'row' }, h('button', { type: 'button', onclick: () => void issue(role, id) }, 'Issue token')),
    field('Rotation grace (seconds)', grace, 'How long the old token keeps working after Rotate; 0 ends it at once.'),
  );
}

/** A new secret, shown once with a copy button: the relay keeps only its hash. */
function showSecret(token: string, tokenId: string): void {
  const box = byId('new-secret');
  const code = h('code', { id: 'secret-value' }, token);
  const copy = h('button', {
    type: 'button',
    onclick: () => {
      navigator.clipboard.writeText(token).then(
        () => say(`Token ${tokenId} copied.`),
        () => {
          getSelection()?.selectAllChildren(code);
          say('Copying is not allowed here: the token is selected, press Ctrl+C (or Cmd+C).');
        },
      );
    },
  }, 'Copy token');
  box.replaceChildren(
    h('p', {}, h('strong', {}, `New token ${tokenId}. `), 'Copy it now: it is shown only once and cannot be read again.'),
    h('div', { class: 'row' }, code, copy),
  );
  box.hidden = false;
  copy.focus();
}

async function issue(role: Role, id: string): Promise<void> {
  try {
    const answer = await api<Token & { token: string }>('POST', `/${role}s/${id}/tokens`);
    await openManage(role, id);
    showSecret(answer.token, answer.id);
    say(`Token ${answer.id} issued to ${role} ${id}.`);
  } catch (err) {
    complain(`Could not issue a token to ${id}`, err);
  }
}

async function rotate(role: Role, id: string, tokenId: string, graceS: number): Promise<void> {
  try {
    const answer = await api<Token & { token: string }>('POST', `/${role}s/${id}/tokens/${tokenId}/rotate`, { grace_s: graceS });
    await openManage(role, id);
    showSecret(answer.token, answer.id);
    say(graceS > 0 ? `Token ${tokenId} rotated: it keeps working for ${graceS} s.` : `Token ${tokenId} rotated and ended.`);
  } catch (err) {
    complain(`Could not rotate token ${tokenId}`, err);
  }
}

async function revoke(role: Role, id: string, tokenId: string): Promise<void> {
  if (!window.confirm(`Revoke token ${tokenId} of ${role} ${id}? Every connection using it is closed now.`)) return;
  try {
    await api('DELETE', `/${role}s/${id}/tokens/${tokenId}`);
    await openManage(role, id);
    say(`Token ${tokenId} revoked; its connections were closed.`);
  } catch (err) {
    complain(`Could not revoke token ${tokenId}`, err);
  }
}

async function remove(role: Role, id: string): Promise<void> {
  if (!window.confirm(`Delete ${role} ${id}? This cannot be undone.`)) return;
  try {
    const answer = await api<{ events_ended?: number }>('DELETE', `/${role}s/${id}`);
    closeManage();
    say(`${role === 'app' ? 'App' : 'Agent'} ${id} deleted${answer.events_ended ? `; ${answer.events_ended} waiting events ended` : ''}.`);
    await refresh();
  } catch (err) {
    complain(`Could not delete ${id}`, err);
  }
}

// ---- event lookup --------------------------------------------------------------------------

async function showTimeline(eventId: string): Promise<void> {
  const out = byId('event-result');
  try {
    out.replaceChildren(renderTimeline(await api('GET', `/events/${encodeURIComponent(eventId)}`)));
    say(`Timeline of ${eventId} shown.`);
  } catch (err) {
    out.replaceChildren();
    throw err;
  }
}

onSubmit(byId<HTMLFormElement>('event-lookup'), 'Could not look up the event', (data) => showTimeline(text(data, 'event_id')));

/** The click-through from an event in a list: its timeline, under Event lookup, with the focus. */
async function openTimeline(eventId: string): Promise<void> {
  byId<HTMLInputElement>('event-id').value = eventId;
  try {
    await showTimeline(eventId);
    byId('events-heading').focus();
  } catch (err) {
    complain(`Could not show the timeline of ${eventId}`, err);
  }
}

for (const input of document.querySelectorAll<HTMLInputElement>('input[data-id]')) input.pattern = ID_PATTERN;
if (session.get()) enter();
else signOut();
