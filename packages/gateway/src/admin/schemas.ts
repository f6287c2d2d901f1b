import { z } from 'zod';
import { AGENT_ID_PATTERN, APP_ID_PATTERN, EVENT_ID_PATTERN } from '@relay/protocol';
import { webhookUrl } from '../registry-file';
import { AdminError } from './admin-error';

// Request bodies of the admin API. Objects are strict: a misspelt field is refused by name
// rather than silently ignored. Names are the registry file's (registry-file.ts).

const DAY_MS = 86_400_000;
const count = (max: number) => z.int().positive().max(max);
const name = z.string().trim().min(1).max(100);
const appIdSchema = z.string().regex(APP_ID_PATTERN, 'must match [a-z0-9][a-z0-9_-]{0,63}');
const agentIdSchema = z.string().regex(AGENT_ID_PATTERN, 'must match [a-z0-9][a-z0-9_-]{0,63}');
const allowApps = z.array(z.union([z.literal('*'), appIdSchema])).max(10_000);

const appFields = {
  name,
  rate_limit_per_min: count(1_000_000),
  hard_rate_limit_per_min: count(1_000_000),
  max_connections: count(100_000),
  /** null removes it: no more finals are POSTed (tries already scheduled give up). */
  webhook_url: webhookUrl.nullable(),
};
export const CreateApp = z.strictObject({ id: appIdSchema, ...partial(appFields) });
export const UpdateApp = z.strictObject(partial(appFields));

const agentFields = {
  name,
  description: z.string().max(1_000),
  allow_apps: allowApps,
  default_ttl_ms: count(30 * DAY_MS),
  max_in_flight: count(10_000),
  max_connections: count(100_000),
  max_queue: count(10_000_000),
  webhook_url: webhookUrl.nullable(),
};
export const CreateAgent = z.strictObject({ id: agentIdSchema, ...partial(agentFields) });
export const UpdateAgent = z.strictObject(partial(agentFields));
export const PutAllowlist = z.strictObject({ apps: allowApps });
/** Rotation grace: up to 30 days; 0 (the default) ends the old token at once. */
export const RotateToken = z.strictObject({ grace_s: z.int().min(0).max(30 * 86_400).optional() });
export const EmptyBody = z.strictObject({});

function partial<T extends Record<string, z.ZodType>>(fields: T): { [K in keyof T]: z.ZodOptional<T[K]> } {
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, v.optional()])) as never;
}

/** Parses a request body (already JSON) or throws 400 naming the first bad field. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0] as z.core.$ZodIssue;
  const keys = issue.code === 'unrecognized_keys' ? issue.keys : [];
  const field = [...issue.path.map(String), ...keys.slice(0, 1)].join('.');
  const message = issue.code === 'unrecognized_keys' ? `unknown field "${keys[0]}"` : issue.message;
  throw new AdminError('invalid_body', field ? `${field}: ${message}` : message, field || undefined);
}

/** A path id of an app or agent: refused (400) unless it matches the protocol's pattern. */
export function checkPrincipalId(id: string): string {
  if (!AGENT_ID_PATTERN.test(id)) throw new AdminError('invalid_id', `"${id}" is not an id: ids match [a-z0-9][a-z0-9_-]{0,63}`, 'id');
  return id;
}

export function checkEventId(id: string): string {
  if (!EVENT_ID_PATTERN.test(id)) throw new AdminError('invalid_id', `"${id}" is not an event id (evt_…)`, 'event_id');
  return id;
}

/** Token ids are the first 12 hex digits of the token's SHA-256 (tokens.ts). */
export function checkTokenId(id: string): string {
  if (!/^[0-9a-f]{12}$/.test(id)) throw new AdminError('invalid_id', `"${id}" is not a token id (12 hex digits)`, 'token_id');
  return id;
}
