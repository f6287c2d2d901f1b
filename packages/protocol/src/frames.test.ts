import type { z } from 'zod';
import {
  AcceptedFrame,
  AgentCancelFrame,
  AgentEventFrame,
  AgentOutboundFrame,
  AgentsFrame,
  AppOutboundFrame,
  AppReplyFrame,
  AppTokenFrame,
  ErrorFrame,
  FRAME_SCHEMAS,
  ResumedFrame,
} from './frames';

const EVT = 'evt_01J9ZQ3K8M';

// The relay → client examples of PROTOCOL.md, with realistic ids in place of "evt_…".
const accepted = {
  type: 'accepted',
  event_id: EVT,
  agent_id: 'athena',
  thread_id: 'portal:task-123:comment-456',
  session_key: 'relay:athena:portal:task-123',
  status: 'accepted',
  queued: false,
};
const agents = {
  type: 'agents',
  agents: [
    { id: 'athena', name: 'Athena', description: 'Answers questions about tasks', status: 'online' },
    { id: 'klyve', name: 'Klyve', description: '…', status: 'offline' },
  ],
};
const appToken = { type: 'token', event_id: EVT, agent_id: 'athena', token: 'This', seq: 0, attempt: 1 };
const resumed = { type: 'resumed', event_id: EVT, attempt: 2, from_seq: 0 };
const appReply = {
  type: 'reply',
  event_id: EVT,
  agent_id: 'athena',
  thread_id: 'portal:task-123:comment-456',
  content: 'This discussion covers…',
  reply: 'This discussion covers…',
  finish_reason: 'stop',
  payload: { event: 'comment.mention', task_id: 'task-123' },
  metadata: { tokens_used: 42, latency_ms: 1834 },
};
const errorFrame = {
  type: 'error',
  code: 'ALLOWLIST_DENIED',
  message: 'App is not allowlisted for this agent',
  error: 'App is not allowlisted for this agent',
  event_id: EVT,
  ref: 'send-1',
};
const agentEvent = {
  type: 'event',
  event_id: EVT,
  agent_id: 'athena',
  app_id: 'portal',
  thread_id: 'portal:task-123:comment-456',
  session_key: 'relay:athena:portal:task-123',
  payload: { event: 'comment.mention', task_id: 'task-123' },
  attempt: 1,
  created_at: '2026-04-07T11:45:00.000Z',
};
const agentCancel = { type: 'cancel', event_id: EVT };

type Case = [string, z.ZodType, Record<string, unknown>, string[]];
const CASES: Case[] = [
  ['AcceptedFrame', AcceptedFrame, accepted, ['type', 'event_id', 'agent_id', 'thread_id', 'session_key', 'status', 'queued']],
  ['AgentsFrame', AgentsFrame, agents, ['type', 'agents']],
  ['AppTokenFrame', AppTokenFrame, appToken, ['type', 'event_id', 'agent_id', 'token', 'seq', 'attempt']],
  ['ResumedFrame', ResumedFrame, resumed, ['type', 'event_id', 'attempt', 'from_seq']],
  ['AppReplyFrame', AppReplyFrame, appReply, ['type', 'event_id', 'agent_id', 'thread_id', 'content', 'reply', 'finish_reason', 'payload', 'metadata']],
  ['ErrorFrame', ErrorFrame, errorFrame, ['type', 'code', 'message', 'error']],
  ['AgentEventFrame', AgentEventFrame, agentEvent, ['type', 'event_id', 'agent_id', 'app_id', 'thread_id', 'session_key', 'payload', 'attempt', 'created_at']],
  ['AgentCancelFrame', AgentCancelFrame, agentCancel, ['type', 'event_id']],
];

function without(obj: Record<string, unknown>, key: string): Record<string, unknown> {
  const copy = { ...obj };
  delete copy[key];
  return copy;
}

describe.each(CASES)('%s', (_name, schema, example, required) => {
  test('accepts the PROTOCOL.md example', () => {
    const result = schema.safeParse(example);
    expect(result.error).toBeUndefined();
    expect(result.success).toBe(true);
  });

  test.each(required)('rejects a frame without %s', (key) => {
    const result = schema.safeParse(without(example, key));
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => i.path[0])).toContain(key);
  });

});

describe.each(CASES.filter(([, , example]) => 'event_id' in example))('%s event_id', (_name, schema, example) => {
  test.each(['evt_…', '01J9ZQ3K8M', 'evt_01J9 ZQ3K8M', 42])('rejects %j', (eventId) => {
    expect(schema.safeParse({ ...example, event_id: eventId }).success).toBe(false);
  });
});

describe('outbound frame details', () => {
  test('ErrorFrame without event_id and ref, and with details', () => {
    expect(
      ErrorFrame.safeParse({
        type: 'error',
        code: 'INVALID_MESSAGE',
        message: 'bad',
        error: 'bad',
        details: [{ path: 'agent_id', message: 'must match' }],
      }).success,
    ).toBe(true);
  });

  test('ErrorFrame rejects a code outside the table', () => {
    expect(ErrorFrame.safeParse({ ...errorFrame, code: 'NOPE' }).success).toBe(false);
  });

  test.each(['EVENT_EXPIRED', 'AGENT_TIMEOUT', 'CANCELLED', 'RELAY_UNAVAILABLE'])('ErrorFrame accepts %s', (code) => {
    expect(ErrorFrame.safeParse({ ...errorFrame, code }).success).toBe(true);
  });

  test('AcceptedFrame with queued true and a ref', () => {
    expect(AcceptedFrame.safeParse({ ...accepted, queued: true, ref: 'r1' }).success).toBe(true);
    expect(AcceptedFrame.safeParse({ ...accepted, status: 'queued' }).success).toBe(false);
  });

  test('AgentsFrame accepts an empty list and rejects an unknown status', () => {
    expect(AgentsFrame.safeParse({ type: 'agents', agents: [] }).success).toBe(true);
    expect(
      AgentsFrame.safeParse({ type: 'agents', agents: [{ ...agents.agents[0], status: 'busy' }] }).success,
    ).toBe(false);
  });

  test('AppTokenFrame seq counts from 0 and is an integer', () => {
    expect(AppTokenFrame.safeParse({ ...appToken, seq: 7 }).success).toBe(true);
    expect(AppTokenFrame.safeParse({ ...appToken, seq: -1 }).success).toBe(false);
    expect(AppTokenFrame.safeParse({ ...appToken, seq: 0.5 }).success).toBe(false);
  });

  test('AppReplyFrame: error reply with null content, extra metadata kept', () => {
    const frame = {
      ...appReply,
      content: null,
      reply: null,
      finish_reason: 'error',
      error: 'model overloaded',
      metadata: { tokens_used: 0, latency_ms: 5, model: 'm-1' },
    };
    const result = AppReplyFrame.safeParse(frame);
    expect(result.success).toBe(true);
    expect(result.data?.metadata).toEqual({ tokens_used: 0, latency_ms: 5, model: 'm-1' });
  });

  test.each([{ x: 1 }, 'text', [1, 2], 3, null])('AppReplyFrame and AgentEventFrame carry payload %j', (payload) => {
    expect(AppReplyFrame.safeParse({ ...appReply, payload }).success).toBe(true);
    expect(AgentEventFrame.safeParse({ ...agentEvent, payload }).success).toBe(true);
  });

  test('AgentEventFrame: redelivery attempt, but not attempt 0 or a bad date', () => {
    expect(AgentEventFrame.safeParse({ ...agentEvent, attempt: 2 }).success).toBe(true);
    expect(AgentEventFrame.safeParse({ ...agentEvent, attempt: 0 }).success).toBe(false);
    expect(AgentEventFrame.safeParse({ ...agentEvent, created_at: 'yesterday' }).success).toBe(false);
  });

  test('the outbound unions pick the schema by type', () => {
    for (const frame of [accepted, agents, appToken, appReply, errorFrame, { type: 'ping' }, { type: 'pong' }]) {
      expect(AppOutboundFrame.safeParse(frame).success).toBe(true);
    }
    for (const frame of [agentEvent, agentCancel, errorFrame, { type: 'ping' }, { type: 'pong' }]) {
      expect(AgentOutboundFrame.safeParse(frame).success).toBe(true);
    }
    expect(AppOutboundFrame.safeParse(agentEvent).success).toBe(false);
    expect(AgentOutboundFrame.safeParse(accepted).success).toBe(false);
  });

  test('FRAME_SCHEMAS lists both directions of both roles', () => {
    expect(FRAME_SCHEMAS.app.outbound).toBe(AppOutboundFrame);
    expect(FRAME_SCHEMAS.agent.outbound).toBe(AgentOutboundFrame);
    expect(FRAME_SCHEMAS.app.inbound.safeParse({ type: 'discover' }).success).toBe(true);
    expect(FRAME_SCHEMAS.agent.inbound.safeParse({ type: 'discover' }).success).toBe(false);
    expect(FRAME_SCHEMAS.agent.inbound.safeParse({ type: 'token', event_id: EVT, token: 'x' }).success).toBe(true);
  });
});
