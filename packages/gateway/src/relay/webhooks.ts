import { webhookHeaders } from '@relay/protocol';
import { finalOnWire } from './outbound';
import type { AppRecord, Task, WebhookOutcome } from '../ports';
import type { RelayContext } from './context';

// App webhooks (PROTOCOL.md "App webhooks"): every final of an app that has a webhook_url is
// also POSTed there, signed, until a 2xx answer. Each try is a scheduler task, so the tries go on
// from whichever node is alive and survive node deaths and Redis restarts (on Redis they are
// BullMQ jobs). At least once: a node that dies mid-try leaves the job to be run again, and the
// receiver dedupes by `webhook-id`, the event id.

export type WebhookTask = Extract<Task, { kind: 'webhook' }>;

const FIRST_RETRY_MS = 1_000;
const MAX_RETRY_MS = 600_000;

/** The wait after failed try `attempt` (from 1): 1 s, 2 s, 4 s … capped at 10 min. */
export function webhookDelay(attempt: number): number {
  return Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.min(attempt - 1, 30));
}

/**
 * Schedules the first try if the app has a webhook. Called while the final is being handed on
 * and before it is marked handed on (finals.ts): a node that dies in between leaves the final
 * overdue, and the node that sends it again schedules this again.
 */
export async function scheduleWebhook(ctx: RelayContext, app: AppRecord | null, eventId: string, body: string): Promise<void> {
  if (!app?.webhookUrl) return;
  const now = Date.now();
  await ctx.backend.scheduler.at(now, { kind: 'webhook', appId: app.id, eventId, attempt: 1, firstAt: now, body });
}

/**
 * One try. The app is read afresh, so a changed URL or a rotated secret applies to the next try.
 * A failure schedules the next try before it is recorded: a record the backend refuses must not
 * stop the tries.
 */
export async function tryWebhook(ctx: RelayContext, task: WebhookTask): Promise<void> {
  const app = await ctx.backend.registry.app(task.appId);
  const started = Date.now();
  if (!app?.webhookUrl) {
    // A deleted app gets no list of tries again (it would outlive the app under its id).
    record(ctx, task, started, 'gave_up', { error: app ? 'the app has no webhook_url' : 'the app was deleted' }, app !== null);
    return;
  }
  const answer = await post(app, task, ctx.limits.webhookTimeoutMs);
  const ok = answer.status !== undefined && answer.status >= 200 && answer.status < 300;
  ctx.metrics.webhookDuration.observe({ outcome: ok ? 'delivered' : 'failed' }, (Date.now() - started) / 1000);
  if (ok) {
    record(ctx, task, started, 'delivered', answer);
    return;
  }
  const next = Date.now() + webhookDelay(task.attempt);
  if (next > task.firstAt + ctx.limits.webhookRetryMs) {
    record(ctx, task, started, 'gave_up', answer);
    return;
  }
  await ctx.backend.scheduler.at(next, { ...task, attempt: task.attempt + 1 });
  record(ctx, task, started, 'failed', answer);
}

interface Answer {
  status?: number;
  error?: string;
}

async function post(app: AppRecord, task: WebhookTask, timeoutMs: number): Promise<Answer> {
  // Unsigned, a receiver could not tell the relay from anyone: the try fails until a secret is set.
  if (!app.webhookSecret) return { error: 'the app has no webhook secret' };
  // The same JSON the app's socket gets (a stored reply gains its `reply` copy of `content`).
  const body = finalOnWire(task.body);
  try {
    const res = await fetch(app.webhookUrl as string, {
      method: 'POST',
      // A redirect is an answer like any other non-2xx: following it would send the signed final
      // wherever the target points.
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
      headers: {
        'content-type': 'application/json',
        'user-agent': 'relay-webhooks',
        ...(await webhookHeaders(app.webhookSecret, task.eventId, body)),
      },
      body,
    });
    // Only the status counts; the body is not read (a huge or endless one must not hold the try).
    await res.body?.cancel();
    return { status: res.status };
  } catch (err) {
    return { error: describe(err) };
  }
}

/** A short reason without the URL (it may carry credentials) or anything the receiver sent. */
function describe(err: unknown): string {
  const e = err as { name?: string; cause?: { code?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'timeout';
  return e.cause?.code ?? e.name ?? 'error';
}

/** The try in the event's timeline, the app's list of tries, the metrics and the log; never the body or the secret. */
function record(ctx: RelayContext, task: WebhookTask, started: number, outcome: WebhookOutcome, answer: Answer, listed = true): void {
  const durationMs = Date.now() - started;
  const detail = { ...(answer.status !== undefined ? { status: answer.status } : {}), ...(answer.error ? { error: answer.error } : {}) };
  ctx.note(task.eventId, { at: started, kind: 'webhook', node: ctx.nodeId, attempt: task.attempt, outcome, ...detail });
  if (listed) {
    ctx.track(
      'webhook-log',
      ctx.backend.webhooks.add(task.appId, { at: started, eventId: task.eventId, attempt: task.attempt, outcome, durationMs, node: ctx.nodeId, ...detail }),
    );
  }
  ctx.metrics.webhookDeliveries.inc({ outcome });
  const fields = { app_id: task.appId, event_id: task.eventId, attempt: task.attempt, outcome, ...detail, duration_ms: durationMs };
  if (outcome === 'delivered') ctx.log.info(fields, 'webhook delivered');
  else ctx.log.warn(fields, outcome === 'failed' ? 'webhook try failed; trying again later' : 'webhook given up');
}
