import { api, type WebhookTries } from './api';
import { field, h, when } from './dom';
import { ms, table } from './view-helpers';

// The webhook part of an app's or agent's page: its URL (saved or removed), its signing secret
// (made or rotated, shown once), and for an app its latest tries, deliveries and failures alike.

type Role = 'app' | 'agent';

export interface WebhookHooks {
  say(message: string): void;
  complain(context: string, err: unknown): void;
  /** Runs a form's action with the page's error handling (main.ts). */
  onSubmit(form: HTMLFormElement, context: string, action: (data: FormData) => Promise<void>): void;
  openTimeline(eventId: string): void;
  /** Draws the page again after a change. */
  reopen(): Promise<void>;
}

const OUTCOME_NAMES = { delivered: 'delivered', failed: 'failed, tried again', gave_up: 'given up' } as const;

export function webhookSection(
  role: Role,
  record: { id: string; webhook_url: string | null; webhook_secret_set: boolean },
  tries: WebhookTries | undefined,
  hooks: WebhookHooks,
): HTMLElement {
  const { id } = record;
  const url = h('input', { type: 'url', name: 'webhook_url', value: record.webhook_url ?? '', maxlength: 2048, placeholder: 'https://…' });
  const form = h(
    'form',
    { novalidate: true },
    field(
      'Webhook URL',
      url,
      role === 'app'
        ? 'Every final of this app’s events is also POSTed here, signed; private-network addresses are allowed, redirects are not followed. Empty removes it.'
        : 'Events are POSTed here when the agent has no socket (agents over HTTP). Empty removes it.',
    ),
    h('button', { type: 'submit' }, 'Save webhook URL'),
  );
  hooks.onSubmit(form, `Could not save the webhook of ${id}`, async (data) => {
    const value = String(data.get('webhook_url') ?? '').trim();
    await api('PATCH', `/${role}s/${id}`, { webhook_url: value === '' ? null : value });
    await hooks.reopen();
    hooks.say(value === '' ? `Webhook of ${role} ${id} removed.` : `Webhook of ${role} ${id} set.`);
  });

  const secretBox = h('div', { id: 'new-webhook-secret', class: 'secret', hidden: true });
  const rotate = async () => {
    if (record.webhook_secret_set && !window.confirm(`Rotate the webhook secret of ${id}? Every later try is signed with the new one: the receiver needs it.`)) return;
    try {
      const answer = await api<{ webhook_secret: string }>('POST', `/${role}s/${id}/webhook-secret`, {});
      await hooks.reopen();
      showWebhookSecret(answer.webhook_secret, hooks.say);
      hooks.say(`New webhook secret for ${role} ${id}.`);
    } catch (err) {
      hooks.complain(`Could not make a webhook secret for ${id}`, err);
    }
  };
  return h(
    'section',
    { 'aria-labelledby': 'webhook-heading' },
    h('h3', { id: 'webhook-heading' }, 'Webhook'),
    form,
    h(
      'p',
      {},
      record.webhook_secret_set ? 'A signing secret is set (it is never shown again).' : h('strong', {}, 'No signing secret: tries fail until one is made.'),
    ),
    secretBox,
    h('div', { class: 'row' }, h('button', { type: 'button', onclick: () => void rotate() }, record.webhook_secret_set ? 'Rotate webhook secret' : 'Create webhook secret')),
    tries ? triesTable(tries, hooks) : h('span'),
  );
}

function triesTable(tries: WebhookTries, hooks: WebhookHooks): HTMLElement {
  const rows = tries.tries.map((t) =>
    h(
      'tr',
      {},
      h('td', {}, when(t.at)),
      h('th', { scope: 'row' }, h('button', { type: 'button', class: 'link', 'aria-label': `Timeline of ${t.event_id}`, onclick: () => hooks.openTimeline(t.event_id) }, t.event_id)),
      h('td', {}, String(t.attempt)),
      h('td', {}, h('span', { class: `outcome ${t.outcome}` }, OUTCOME_NAMES[t.outcome])),
      h('td', {}, t.status !== null ? String(t.status) : (t.error ?? '—')),
      h('td', {}, ms(t.duration_ms)),
      h('td', {}, t.node),
    ),
  );
  const failures = tries.tries.filter((t) => t.outcome !== 'delivered').length;
  return h(
    'div',
    {},
    h('h4', {}, `Latest tries (${tries.tries.length}; ${failures} failed)`),
    table('Latest webhook tries', ['When', 'Event', 'Try', 'Outcome', 'Status or error', 'Took', 'Node'], rows, 'No tries yet.'),
  );
}

/** A new webhook secret, shown once with a copy button: it cannot be read again. */
function showWebhookSecret(secret: string, say: (message: string) => void): void {
  const box = document.getElementById('new-webhook-secret');
  if (!box) return;
  const code = h('code', { id: 'webhook-secret-value' }, secret);
  const copy = h('button', {
    type: 'button',
    onclick: () => {
      navigator.clipboard.writeText(secret).then(
        () => say('Webhook secret copied.'),
        () => {
          getSelection()?.selectAllChildren(code);
          say('Copying is not allowed here: the secret is selected, press Ctrl+C (or Cmd+C).');
        },
      );
    },
  }, 'Copy secret');
  box.replaceChildren(
    h('p', {}, h('strong', {}, 'New webhook secret. '), 'Give it to the receiver now: it is shown only once.'),
    h('div', { class: 'row' }, code, copy),
  );
  box.hidden = false;
  copy.focus();
}
