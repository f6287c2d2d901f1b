import { ErrorCode } from '@relay/protocol';
import { verifyWebhook, WebhookVerificationError } from '@relay/sdk';
import { ADMIN_TOKEN, adminApi } from '../support/admin';
import { backendsUnderTest } from '../support/backends';
import { eventFrame, type Frame } from '../support/client';
import { send, sleep, waitFor } from '../support/lifecycle';
import { useRelay } from '../support/relay-fixture';
import { startWebhookReceiver, testWebhookSecret, type WebhookReceiver } from '../support/webhook-receiver';

const REPLY_TIMEOUT_MS = 400;
// Long enough for a node's first fetch (which loads its HTTP client) on a busy machine.
const WEBHOOK_TIMEOUT_MS = 1_000;

// App webhooks (PROTOCOL.md "App webhooks"), against a real local receiver that verifies every
// signature and fails on purpose. On three nodes the tries run on whichever node's scheduler
// takes them.
describe.each(backendsUnderTest())('app webhooks ($name backend)', (backend) => {
  let receiver: WebhookReceiver;
  const secret = testWebhookSecret();
  beforeEach(async () => {
    receiver = await startWebhookReceiver(secret);
  });
  afterEach(async () => {
    await receiver.close();
  });
  const r = useRelay(backend, {
    perTest: true,
    registry: () => ({ apps: { portal: { webhook_url: `${receiver.url}/hooks/portal`, webhook_secret: secret } } }),
    env: {
      RELAY_REPLY_TIMEOUT_MS: String(REPLY_TIMEOUT_MS),
      RELAY_WEBHOOK_TIMEOUT_MS: String(WEBHOOK_TIMEOUT_MS),
      RELAY_ADMIN_TOKEN: ADMIN_TOKEN,
      RELAY_REGISTRY_MODE: 'admin',
    },
  });
  const triesOf = (eventId: string) => receiver.received.filter((w) => w.headers['webhook-id'] === eventId);
  const deliveredOnce = async (eventId: string) => {
    await waitFor(`a webhook for ${eventId}`, () => triesOf(eventId).length > 0, 10_000);
    await sleep(500); // a second POST of the same final would come within this
    const tries = triesOf(eventId);
    expect(tries).toHaveLength(1);
    expect(tries[0]).toMatchObject({ ok: true, path: '/hooks/portal' });
    return tries[0]?.verified as Frame;
  };
  const steps = async (eventId: string) => {
    const answer = await adminApi(r.relay.httpUrl)('GET', `/v1/admin/events/${eventId}`);
    return (answer.body.steps as Frame[]).filter((s) => s.step === 'webhook');
  };

  test('every kind of final is POSTed once, signed, as the same JSON the app got; the try is in the timeline', async () => {
    const agent = await r.connect('athena');
    const app = await r.connect('portal');

    const answered = await send(app, eventFrame());
    await agent.nextOf('event', answered.event_id);
    const content = `answer-${answered.event_id}`;
    agent.send({ type: 'reply', event_id: answered.event_id, content, finish_reason: 'stop' });
    const reply = await app.nextOf('reply', answered.event_id);
    expect(await deliveredOnce(answered.event_id as string)).toEqual(reply);

    const cancelled = await send(app, eventFrame());
    await agent.nextOf('event', cancelled.event_id);
    app.send({ type: 'cancel', event_id: cancelled.event_id, ref: 'c1' });
    const { ref, ...final } = await app.nextOf('error', cancelled.event_id);
    expect([ref, final.code]).toEqual(['c1', ErrorCode.CANCELLED]);
    // the webhook gets the final as recorded, without the cancel's ref
    expect(await deliveredOnce(cancelled.event_id as string)).toEqual(final);

    const silent = await send(app, eventFrame());
    await agent.nextOf('event', silent.event_id);
    await app.nextOf('error', silent.event_id, 5_000);
    expect(await deliveredOnce(silent.event_id as string)).toMatchObject({ code: ErrorCode.AGENT_TIMEOUT, event_id: silent.event_id });

    await agent.close();
    const expired = await send(app, eventFrame({ ttl_ms: 200 }));
    await app.nextOf('error', expired.event_id, 5_000);
    expect(await deliveredOnce(expired.event_id as string)).toMatchObject({ code: ErrorCode.EVENT_EXPIRED, event_id: expired.event_id });

    expect(await steps(answered.event_id as string)).toEqual([expect.objectContaining({ attempt: 1, outcome: 'delivered', status: 200 })]);
    const headers = triesOf(answered.event_id as string)[0]?.headers;
    expect(headers?.['content-type']).toBe('application/json');
    expect(headers?.['webhook-signature']).toMatch(/^v1,/);
    // logs name the tries, never a body or the secret
    await r.relay.waitForOutput(/webhook delivered/);
    expect(r.relay.output()).not.toContain(content);
    expect(r.relay.output()).not.toContain(secret.slice(6));
  });

  test('failures (500, a timeout, a redirect) are tried again with growing gaps until a 2xx; the redirect is not followed', async () => {
    const app = await r.connect('portal');
    receiver.next({ status: 500 }, 'hang', { redirect: `${receiver.url}/elsewhere` }, { status: 200 });
    const cancelled = await send(app, eventFrame());
    app.send({ type: 'cancel', event_id: cancelled.event_id });
    await waitFor('the fourth try', () => triesOf(cancelled.event_id as string).length >= 4, 20_000);
    await sleep(500);
    const tries = triesOf(cancelled.event_id as string);
    expect(tries.map((t) => t.path)).toEqual(['/hooks/portal', '/hooks/portal', '/hooks/portal', '/hooks/portal']);
    expect(receiver.received.filter((w) => w.path === '/elsewhere')).toEqual([]);
    expect(tries.every((t) => t.ok)).toBe(true);
    // at least the backoff (1 s, 2 s, 4 s) apart, counted from when the node gave up on a try;
    // receipt times carry a few ms of jitter, so the hung try's timeout is not added to its gap
    const gaps = tries.slice(1).map((t, i) => t.at - (tries[i] as { at: number }).at);
    expect(gaps[0]).toBeGreaterThanOrEqual(1_000);
    expect(gaps[1]).toBeGreaterThanOrEqual(2_000);
    expect(gaps[2]).toBeGreaterThanOrEqual(4_000);
    const noted = await steps(cancelled.event_id as string);
    expect(noted.map((s) => [s.attempt, s.outcome, s.status ?? s.error])).toEqual([
      [1, 'failed', 500],
      [2, 'failed', 'timeout'],
      [3, 'failed', 302],
      [4, 'delivered', 200],
    ]);
  }, 30_000);

  test('a rotated secret signs the next try; the old one no longer verifies', async () => {
    const app = await r.connect('portal');
    receiver.next({ status: 503 });
    const event = await send(app, eventFrame());
    app.send({ type: 'cancel', event_id: event.event_id });
    await waitFor('the first try', () => triesOf(event.event_id as string).length === 1, 10_000);
    const rotated = await adminApi(r.relay.httpUrl)('POST', '/v1/admin/apps/portal/webhook-secret', {});
    expect(rotated.status).toBe(201);
    expect(rotated.body.webhook_secret).toMatch(/^whsec_/);
    expect(rotated.body.webhook_secret).not.toBe(secret);
    // verifies with the new secret, or the test fails on `ok`
    receiver.useSecret(rotated.body.webhook_secret);
    await waitFor('the second try', () => triesOf(event.event_id as string).length === 2, 10_000);
    const [first, second] = triesOf(event.event_id as string);
    expect([first?.ok, second?.ok]).toEqual([true, true]);
    await expect(verifyWebhook(secret, second?.headers as Record<string, string>, second?.body as string)).rejects.toThrow(WebhookVerificationError);
  }, 20_000);
});

describe.each(backendsUnderTest({ singleNode: true }))('app webhooks given up and counted ($name backend)', (backend) => {
  let receiver: WebhookReceiver;
  const secret = testWebhookSecret();
  beforeAll(async () => {
    receiver = await startWebhookReceiver(secret);
  });
  afterAll(async () => {
    await receiver.close();
  });
  const r = useRelay(backend, {
    registry: () => ({ apps: { portal: { webhook_url: receiver.url, webhook_secret: secret } } }),
    env: { RELAY_WEBHOOK_RETRY_MS: '2500', RELAY_ADMIN_TOKEN: ADMIN_TOKEN },
  });

  test('a receiver that keeps failing is tried until RELAY_WEBHOOK_RETRY_MS, then given up; each try counted', async () => {
    const metric = async (outcome: string) => {
      const text = await (await fetch(`${r.relay.httpUrl}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith(`relay_webhook_deliveries_total{outcome="${outcome}"}`));
      return line ? Number(line.split(' ')[1]) : 0;
    };
    const app = await r.connect('portal');
    receiver.next({ status: 500 }, { status: 500 }, { status: 500 }, { status: 500 });
    const event = await send(app, eventFrame());
    app.send({ type: 'cancel', event_id: event.event_id });
    // tries at 0 s and 1 s; the next would be at 3 s, past the 2.5 s: given up after the second
    await waitFor('the give-up', () => receiver.received.filter((w) => w.headers['webhook-id'] === event.event_id).length === 2, 10_000);
    await sleep(2_500);
    expect(receiver.received.filter((w) => w.headers['webhook-id'] === event.event_id)).toHaveLength(2);
    expect([await metric('failed'), await metric('gave_up'), await metric('delivered')]).toEqual([1, 1, 0]);
    const text = await (await fetch(`${r.relay.httpUrl}/metrics`)).text();
    expect(text).toMatch(/relay_webhook_duration_seconds_count\{outcome="failed"\} 2/);
    const steps = (await adminApi(r.relay.httpUrl)('GET', `/v1/admin/events/${event.event_id}`)).body.steps as Frame[];
    expect(steps.filter((s) => s.step === 'webhook').map((s) => s.outcome)).toEqual(['failed', 'gave_up']);
    // the app's list of latest tries (the Dashboard's), newest first, never the body
    const listed = await adminApi(r.relay.httpUrl)('GET', '/v1/admin/apps/portal/webhooks');
    expect(listed.body.tries.slice(0, 2)).toEqual([
      expect.objectContaining({ event_id: event.event_id, attempt: 2, outcome: 'gave_up', status: 500 }),
      expect.objectContaining({ event_id: event.event_id, attempt: 1, outcome: 'failed', status: 500 }),
    ]);
    expect(JSON.stringify(listed.body)).not.toContain(secret);
  }, 20_000);
});
