import { createHash, randomBytes } from 'node:crypto';
import { AGENT_TOKEN_PREFIX, APP_TOKEN_PREFIX, WEBHOOK_SECRET_PREFIX, type Role } from '@relay/protocol';
import { randomSecret } from './ids';

export function tokenPrefix(role: Role, id: string): string {
  return `${role === 'app' ? APP_TOKEN_PREFIX : AGENT_TOKEN_PREFIX}${id}_`;
}

/** A new token for an app or agent: `rlk_<id>_<secret>` / `rla_<id>_<secret>`. */
export function generateToken(role: Role, id: string): string {
  return tokenPrefix(role, id) + randomSecret();
}

export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** A short, non-secret name for a token, safe to log: the first 12 hex digits of its hash. */
export function tokenId(hash: Buffer): string {
  return hash.subarray(0, 6).toString('hex');
}

/** A new webhook signing secret: `whsec_` + base64 of 32 random bytes (Standard Webhooks). */
export function generateWebhookSecret(): string {
  return WEBHOOK_SECRET_PREFIX + randomBytes(32).toString('base64');
}
