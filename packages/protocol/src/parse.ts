import type { z } from 'zod';
import { DEFAULT_ERROR_MESSAGES, ErrorCode } from './codes';
import {
  AgentInboundFrame,
  AgentReplyFrame,
  AgentTokenFrame,
  AppCancelFrame,
  AppEventFrame,
  DiscoverFrame,
  PingFrame,
  PongFrame,
  ResumeFrame,
  type Role,
} from './frames';
import { EVENT_ID_PATTERN, MAX_NESTING_DEPTH, MAX_PAYLOAD_BYTES, MAX_REF_LENGTH, utf8ByteLength } from './limits';
import { rawMember } from './raw-json';
import { parseAgentTokenFast } from './token-fast-path';

export interface ErrorDetail {
  path: string;
  message: string;
}

/** A protocol error about one inbound frame, ready to be sent as an `error` frame. */
export interface FrameError {
  code: ErrorCode;
  message: string;
  details?: ErrorDetail[];
  ref?: string;
  event_id?: string;
}

/**
 * An inbound frame that passed validation. `payloadRaw` is the payload exactly as sent;
 * `tokenJson`, a token's JSON string as sent, when the fast path read it (see FastToken).
 */
export type Parsed<F> = { ok: true; frame: F; payloadRaw?: string; tokenJson?: string } | { ok: false; error: FrameError };

const APP_SCHEMAS = {
  event: AppEventFrame,
  discover: DiscoverFrame,
  cancel: AppCancelFrame,
  resume: ResumeFrame,
  ping: PingFrame,
  pong: PongFrame,
} as const;

const AGENT_SCHEMAS = {
  token: AgentTokenFrame,
  reply: AgentReplyFrame,
  ping: PingFrame,
  pong: PongFrame,
} as const;

export type AppFrame = z.infer<(typeof APP_SCHEMAS)[keyof typeof APP_SCHEMAS]>;
export type AgentFrame = z.infer<typeof AgentInboundFrame>;

/** Parses one app → relay frame, or says exactly which protocol error it is. */
export function parseAppFrame(text: string): Parsed<AppFrame> {
  return parseFrame(text, APP_SCHEMAS, 'app');
}

/** Parses one agent → relay frame, or says exactly which protocol error it is. */
export function parseAgentFrame(text: string): Parsed<AgentFrame> {
  const token = parseAgentTokenFast(text);
  if (token) return { ok: true, frame: token.frame, tokenJson: token.tokenJson };
  return parseFrame(text, AGENT_SCHEMAS, 'agent');
}

function parseFrame<S extends Record<string, z.ZodType>>(
  text: string,
  schemas: S,
  role: Role,
): Parsed<z.infer<S[keyof S]>> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return fail(ErrorCode.INVALID_JSON);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail(ErrorCode.INVALID_MESSAGE, 'Frame must be a JSON object', [
      { path: '', message: 'expected a JSON object' },
    ]);
  }
  const obj = value as Record<string, unknown>;
  // Only well-formed values are echoed, so the error frame itself always obeys the schema.
  const echo = {
    ...(typeof obj.ref === 'string' && obj.ref.length <= MAX_REF_LENGTH ? { ref: obj.ref } : {}),
    ...(typeof obj.event_id === 'string' && EVENT_ID_PATTERN.test(obj.event_id) ? { event_id: obj.event_id } : {}),
  };
  if (nestedDeeperThan(value, MAX_NESTING_DEPTH)) {
    return fail(ErrorCode.INVALID_MESSAGE, `Frame is nested more than ${MAX_NESTING_DEPTH} levels deep`, [
      { path: '', message: `nested more than ${MAX_NESTING_DEPTH} levels` },
    ], echo);
  }
  if (typeof obj.type !== 'string') {
    return fail(ErrorCode.INVALID_MESSAGE, 'Frame needs a string "type"', [
      { path: 'type', message: 'expected a string' },
    ], echo);
  }
  const schema = Object.hasOwn(schemas, obj.type) ? schemas[obj.type] : undefined;
  if (!schema) {
    return fail(ErrorCode.UNKNOWN_TYPE, `Unknown type "${obj.type.slice(0, 64)}" for ${role}`, undefined, echo);
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    const details = result.error.issues.map((issue) => ({
      path: issue.path.map(String).join('.'),
      message: issue.message,
    }));
    return fail(
      ErrorCode.INVALID_MESSAGE,
      `Invalid ${obj.type}: ${details.map((d) => `${d.path || '(frame)'} ${d.message}`).join('; ')}`,
      details,
      echo,
    );
  }
  if (obj.type === 'event' || (obj.type === 'reply' && 'payload' in obj)) {
    const payloadRaw = rawMember(text, 'payload') as string;
    if (obj.type === 'event' && utf8ByteLength(payloadRaw) > MAX_PAYLOAD_BYTES) {
      return fail(
        ErrorCode.PAYLOAD_TOO_LARGE,
        `Payload is ${utf8ByteLength(payloadRaw)} bytes; the limit is ${MAX_PAYLOAD_BYTES}`,
        undefined,
        echo,
      );
    }
    return { ok: true, frame: result.data as z.infer<S[keyof S]>, payloadRaw };
  }
  return { ok: true, frame: result.data as z.infer<S[keyof S]> };
}

/**
 * Whether objects and arrays nest more than `limit` levels (the value itself is level 1). The
 * recursion stops `limit` calls deep, so a hostile frame cannot exhaust the stack here; it never
 * looks inside strings, so a large answer costs no more than its few containers.
 */
function nestedDeeperThan(node: object, limit: number): boolean {
  if (limit === 0) return true;
  if (Array.isArray(node)) {
    for (const child of node as unknown[]) if (isContainer(child) && nestedDeeperThan(child, limit - 1)) return true;
    return false;
  }
  // for…in, not Object.values: no array per object, on the path of every frame
  for (const key in node) {
    const child = (node as Record<string, unknown>)[key];
    if (isContainer(child) && nestedDeeperThan(child, limit - 1)) return true;
  }
  return false;
}

function isContainer(value: unknown): value is object {
  return typeof value === 'object' && value !== null;
}

function fail(
  code: ErrorCode,
  message: string = DEFAULT_ERROR_MESSAGES[code],
  details?: ErrorDetail[],
  echo: { ref?: string; event_id?: string } = {},
): { ok: false; error: FrameError } {
  return { ok: false, error: { code, message, ...(details ? { details } : {}), ...echo } };
}
