import { isWebhookSecret, signWebhook, verifyWebhook, webhookHeaders, WebhookVerificationError } from './webhook-signature';

// The Standard Webhooks reference vector (standard-webhooks/standard-webhooks, libraries' tests).
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const ID = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
const TS = 1614265330;
const BODY = '{"test": 2432232314}';
const SIGNATURE = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';

describe('webhook signatures', () => {
  it('match the Standard Webhooks reference vector', async () => {
    expect(await signWebhook(SECRET, ID, TS, BODY)).toBe(SIGNATURE);
  });

  it('verify what they sign, and give back the parsed body', async () => {
    const now = TS * 1000;
    const headers = await webhookHeaders(SECRET, ID, BODY, now);
    await expect(verifyWebhook(SECRET, headers, BODY, { nowMs: now })).resolves.toEqual({ test: 2432232314 });
    await expect(verifyWebhook(SECRET, new Headers(headers), BODY, { nowMs: now + 299_000 })).resolves.toEqual({ test: 2432232314 });
  });

  it('accept one matching signature among several (rotation)', async () => {
    const headers = { 'webhook-id': ID, 'webhook-timestamp': String(TS), 'webhook-signature': `v1,AAAA ${SIGNATURE}` };
    await expect(verifyWebhook(SECRET, headers, BODY, { nowMs: TS * 1000 })).resolves.toBeDefined();
  });

  it.each([
    ['a changed body', { body: '{"test": 2432232315}' }],
    ['another secret', { secret: 'whsec_' + Buffer.alloc(24, 7).toString('base64') }],
    ['an old timestamp', { nowMs: (TS + 301) * 1000 }],
    ['a missing header', { drop: 'webhook-signature' }],
  ])('refuse %s', async (_what, change: { body?: string; secret?: string; nowMs?: number; drop?: string }) => {
    const headers: Record<string, string> = { 'webhook-id': ID, 'webhook-timestamp': String(TS), 'webhook-signature': SIGNATURE };
    if (change.drop) delete headers[change.drop];
    await expect(verifyWebhook(change.secret ?? SECRET, headers, change.body ?? BODY, { nowMs: change.nowMs ?? TS * 1000 })).rejects.toThrow(
      WebhookVerificationError,
    );
  });

  it('know a secret by its form: whsec_ and at least 24 bytes of base64', () => {
    expect(isWebhookSecret(SECRET)).toBe(true);
    expect(isWebhookSecret('whsec_' + Buffer.alloc(23).toString('base64'))).toBe(false);
    expect(isWebhookSecret(SECRET.slice(6))).toBe(false);
    expect(isWebhookSecret('whsec_not base64!')).toBe(false);
  });
});
