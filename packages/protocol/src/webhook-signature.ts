// Standard Webhooks signing (https://www.standardwebhooks.com): the relay signs what it POSTs to
// app and agent webhooks, and receivers verify with the same code. Web Crypto only, so it runs on
// Node 20, edge runtimes and browsers alike.

export const WEBHOOK_SECRET_PREFIX = 'whsec_';
/** A secret carries at least this many random bytes (the contract's floor). */
export const WEBHOOK_SECRET_MIN_BYTES = 24;
/** How far a signed timestamp may be from the receiver's clock before it is refused (replays). */
export const WEBHOOK_TOLERANCE_S = 300;

export class WebhookVerificationError extends Error {
  override readonly name = 'WebhookVerificationError';
}

/** The secret's key bytes; throws unless it is `whsec_` + base64 of at least 24 bytes. */
export function webhookSecretBytes(secret: string): Uint8Array<ArrayBuffer> {
  if (!secret.startsWith(WEBHOOK_SECRET_PREFIX)) throw new WebhookVerificationError(`a webhook secret starts with ${WEBHOOK_SECRET_PREFIX}`);
  const b64 = secret.slice(WEBHOOK_SECRET_PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw new WebhookVerificationError('a webhook secret is whsec_ + base64');
  const bytes = fromBase64(b64);
  if (bytes.length < WEBHOOK_SECRET_MIN_BYTES) {
    throw new WebhookVerificationError(`a webhook secret carries at least ${WEBHOOK_SECRET_MIN_BYTES} bytes`);
  }
  return bytes;
}

export function isWebhookSecret(secret: string): boolean {
  try {
    webhookSecretBytes(secret);
    return true;
  } catch {
    return false;
  }
}

/** `v1,<base64 HMAC-SHA256 over "<id>.<timestamp>.<body>">`. */
export async function signWebhook(secret: string, id: string, timestampS: number, body: string): Promise<string> {
  const key = await crypto.subtle.importKey('raw', webhookSecretBytes(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const mac = await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(`${id}.${timestampS}.${body}`));
  return `v1,${toBase64(new Uint8Array(mac))}`;
}

/** The three headers of a signed webhook request. */
export async function webhookHeaders(secret: string, id: string, body: string, nowMs = Date.now()): Promise<Record<string, string>> {
  const timestamp = Math.floor(nowMs / 1000);
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': await signWebhook(secret, id, timestamp, body),
  };
}

type HeaderSource = Headers | Record<string, string | string[] | undefined>;

/**
 * Checks a webhook the relay sent: the signature over the raw body (as received, before any JSON
 * parsing) and a timestamp within five minutes. Throws WebhookVerificationError saying why;
 * resolves with the parsed body otherwise.
 */
export async function verifyWebhook(
  secret: string,
  headers: HeaderSource,
  body: string,
  options: { nowMs?: number; toleranceS?: number } = {},
): Promise<unknown> {
  const id = header(headers, 'webhook-id');
  const timestamp = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (!id || !timestamp || !signatures) throw new WebhookVerificationError('missing webhook-id, webhook-timestamp or webhook-signature');
  const seconds = Number(timestamp);
  if (!/^\d+$/.test(timestamp) || !Number.isSafeInteger(seconds)) throw new WebhookVerificationError('webhook-timestamp is not Unix seconds');
  const nowS = Math.floor((options.nowMs ?? Date.now()) / 1000);
  if (Math.abs(nowS - seconds) > (options.toleranceS ?? WEBHOOK_TOLERANCE_S)) throw new WebhookVerificationError('webhook-timestamp is too far from now');
  const expected = (await signWebhook(secret, id, seconds, body)).slice(3);
  // The header may list several space-separated signatures (a secret being rotated).
  const match = signatures.split(' ').some((s) => s.startsWith('v1,') && constantTimeEqual(s.slice(3), expected));
  if (!match) throw new WebhookVerificationError('no signature matches');
  try {
    return JSON.parse(body) as unknown;
  } catch {
    throw new WebhookVerificationError('the body is not JSON');
  }
}

function header(headers: HeaderSource, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const record = headers as Record<string, string | string[] | undefined>;
  const value = record[name] ?? Object.entries(record).find(([k]) => k.toLowerCase() === name)?.[1];
  return Array.isArray(value) ? value[0] : value;
}

function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

function fromBase64(b64: string): Uint8Array<ArrayBuffer> {
  const binary = atob(b64);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}
