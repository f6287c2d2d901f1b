import { z } from 'zod';
import { ERROR_CODES } from './codes';
import {
  AGENT_ID_PATTERN,
  EVENT_ID_PATTERN,
  MAX_IDEMPOTENCY_KEY_LENGTH,
  MAX_REF_LENGTH,
  MAX_TOKEN_TEXT_LENGTH,
  THREAD_ID_PATTERN,
} from './limits';

// Field rules shared by several frames.
export const agentId = z.string().regex(AGENT_ID_PATTERN, 'must match [a-z0-9][a-z0-9_-]{0,63}');
export const appId = agentId;
export const threadId = z
  .string()
  .regex(THREAD_ID_PATTERN, 'must be 1-256 chars of letters, digits and :/._-@#');
export const eventId = z.string().regex(EVENT_ID_PATTERN, 'must be an event id (evt_…)');
export const ref = z.string().max(MAX_REF_LENGTH).optional();
/** Any JSON value. It is required: a missing key is an error, `null` is a value. */
const jsonValue = z.unknown().refine((v) => v !== undefined, { message: 'Required' });
export const finishReason = z.enum(['stop', 'length', 'error']);

// ── App → relay ─────────────────────────────────────────────────────────────

export const AppEventFrame = z.object({
  type: z.literal('event'),
  agent_id: agentId,
  thread_id: threadId,
  payload: jsonValue,
  ttl_ms: z.int().positive().optional(),
  idempotency_key: z.string().min(1).max(MAX_IDEMPOTENCY_KEY_LENGTH).optional(),
  ref,
});
export const DiscoverFrame = z.object({ type: z.literal('discover'), ref });
export const AppCancelFrame = z.object({ type: z.literal('cancel'), event_id: eventId, ref });
/** Asks for an event's recorded tokens after `after_seq`, then its live ones and its final. */
export const ResumeFrame = z.object({
  type: z.literal('resume'),
  event_id: eventId,
  after_seq: z.int().min(-1).optional(),
  attempt: z.int().positive().optional(),
  ref,
});
export const PingFrame = z.object({ type: z.literal('ping'), ref });
export const PongFrame = z.object({ type: z.literal('pong'), ref });

export const AppInboundFrame = z.discriminatedUnion('type', [
  AppEventFrame,
  DiscoverFrame,
  AppCancelFrame,
  ResumeFrame,
  PingFrame,
  PongFrame,
]);

// ── Agent → relay ───────────────────────────────────────────────────────────

export const AgentTokenFrame = z.object({
  type: z.literal('token'),
  event_id: eventId,
  token: z.string().max(MAX_TOKEN_TEXT_LENGTH),
  ref,
});
export const AgentReplyFrame = z
  .object({
    type: z.literal('reply'),
    event_id: eventId,
    content: z.string().nullable(),
    finish_reason: finishReason,
    error: z.string().optional(),
    payload: z.unknown().optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
    ref,
  })
  .refine((f) => f.content !== null || f.finish_reason === 'error', {
    path: ['content'],
    message: 'content may be null only when finish_reason is "error"',
  });

export const AgentInboundFrame = z.discriminatedUnion('type', [
  AgentTokenFrame,
  AgentReplyFrame,
  PingFrame,
  PongFrame,
]);

// ── Relay → app ─────────────────────────────────────────────────────────────

export const AcceptedFrame = z.object({
  type: z.literal('accepted'),
  event_id: eventId,
  agent_id: agentId,
  thread_id: threadId,
  session_key: z.string(),
  status: z.literal('accepted'),
  queued: z.boolean(),
  ref,
});
export const AgentsFrame = z.object({
  type: z.literal('agents'),
  agents: z.array(
    z.object({
      id: agentId,
      name: z.string(),
      description: z.string(),
      status: z.enum(['online', 'offline']),
    }),
  ),
  ref,
});
export const AppTokenFrame = z.object({
  type: z.literal('token'),
  event_id: eventId,
  agent_id: agentId,
  token: z.string(),
  seq: z.int().nonnegative(),
  /** The delivery this token belongs to, from 1; seq starts again at 0 in each. */
  attempt: z.int().positive(),
});
/** The answer to `resume`: replay of `attempt` follows, from `from_seq`. */
export const ResumedFrame = z.object({
  type: z.literal('resumed'),
  event_id: eventId,
  attempt: z.int().positive(),
  from_seq: z.int().nonnegative(),
  ref,
});
export const AppReplyFrame = z.object({
  type: z.literal('reply'),
  event_id: eventId,
  agent_id: agentId,
  thread_id: threadId,
  content: z.string().nullable(),
  reply: z.string().nullable(),
  finish_reason: finishReason,
  error: z.string().optional(),
  payload: jsonValue,
  metadata: z.looseObject({ tokens_used: z.number(), latency_ms: z.int().nonnegative() }),
});
export const ErrorFrame = z.object({
  type: z.literal('error'),
  code: z.enum(ERROR_CODES),
  message: z.string(),
  error: z.string(),
  event_id: eventId.optional(),
  ref,
  details: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});

export const AppOutboundFrame = z.discriminatedUnion('type', [
  AcceptedFrame,
  AgentsFrame,
  AppTokenFrame,
  ResumedFrame,
  AppReplyFrame,
  ErrorFrame,
  PingFrame,
  PongFrame,
]);

// ── Relay → agent ───────────────────────────────────────────────────────────

export const AgentEventFrame = z.object({
  type: z.literal('event'),
  event_id: eventId,
  agent_id: agentId,
  app_id: appId,
  thread_id: threadId,
  session_key: z.string(),
  payload: jsonValue,
  attempt: z.int().positive(),
  created_at: z.iso.datetime(),
});
export const AgentCancelFrame = z.object({ type: z.literal('cancel'), event_id: eventId });

export const AgentOutboundFrame = z.discriminatedUnion('type', [
  AgentEventFrame,
  AgentCancelFrame,
  ErrorFrame,
  PingFrame,
  PongFrame,
]);

export type AppEventFrame = z.infer<typeof AppEventFrame>;
export type AppCancelFrame = z.infer<typeof AppCancelFrame>;
export type ResumeFrame = z.infer<typeof ResumeFrame>;
export type ResumedFrame = z.infer<typeof ResumedFrame>;
export type AppInboundFrame = z.infer<typeof AppInboundFrame>;
export type AgentTokenFrame = z.infer<typeof AgentTokenFrame>;
export type AgentReplyFrame = z.infer<typeof AgentReplyFrame>;
export type AgentInboundFrame = z.infer<typeof AgentInboundFrame>;
export type AcceptedFrame = z.infer<typeof AcceptedFrame>;
export type AgentsFrame = z.infer<typeof AgentsFrame>;
export type AppTokenFrame = z.infer<typeof AppTokenFrame>;
export type AppReplyFrame = z.infer<typeof AppReplyFrame>;
export type ErrorFrame = z.infer<typeof ErrorFrame>;
export type AppOutboundFrame = z.infer<typeof AppOutboundFrame>;
export type AgentEventFrame = z.infer<typeof AgentEventFrame>;
export type AgentOutboundFrame = z.infer<typeof AgentOutboundFrame>;
export type FinishReason = z.infer<typeof finishReason>;

export type Role = 'app' | 'agent';

/** Every frame schema by role and direction, for JSON Schema and AsyncAPI export. */
export const FRAME_SCHEMAS = {
  app: { inbound: AppInboundFrame, outbound: AppOutboundFrame },
  agent: { inbound: AgentInboundFrame, outbound: AgentOutboundFrame },
} as const;
