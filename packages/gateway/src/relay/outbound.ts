import {
  DEFAULT_ERROR_MESSAGES,
  type AgentReplyFrame,
  type ErrorCode,
  type ErrorDetail,
} from '@relay/protocol';
import type { AgentRecord, EventRecord } from '../ports';

// Builders for every frame the relay writes. The payload is spliced in as the app's own JSON
// text, so it reaches the agent (and comes back) byte for byte.

export interface ErrorExtras {
  event_id?: string | undefined;
  ref?: string | undefined;
  details?: ErrorDetail[] | undefined;
}

export function errorFrame(code: ErrorCode, message: string = DEFAULT_ERROR_MESSAGES[code], extras: ErrorExtras = {}): string {
  return JSON.stringify({
    type: 'error',
    code,
    message,
    error: message,
    ...(extras.event_id !== undefined ? { event_id: extras.event_id } : {}),
    ...(extras.ref !== undefined ? { ref: extras.ref } : {}),
    ...(extras.details !== undefined ? { details: extras.details } : {}),
  });
}

export function acceptedFrame(event: EventRecord, ref: string | undefined): string {
  return JSON.stringify({
    type: 'accepted',
    event_id: event.id,
    agent_id: event.agentId,
    thread_id: event.threadId,
    session_key: event.sessionKey,
    status: 'accepted',
    queued: event.queued,
    ...(ref !== undefined ? { ref } : {}),
  });
}

export function agentsFrame(agents: AgentRecord[], online: Set<string>, ref: string | undefined): string {
  return JSON.stringify({
    type: 'agents',
    agents: agents.map((a) => ({
      id: a.id,
      name: a.name,
      description: a.description,
      status: online.has(a.id) ? 'online' : 'offline',
    })),
    ...(ref !== undefined ? { ref } : {}),
  });
}

export function pongFrame(ref: string | undefined): string {
  return ref === undefined ? '{"type":"pong"}' : JSON.stringify({ type: 'pong', ref });
}

export function agentEventFrame(event: EventRecord, attempt: number): string {
  const head = JSON.stringify({
    type: 'event',
    event_id: event.id,
    agent_id: event.agentId,
    app_id: event.appId,
    thread_id: event.threadId,
    session_key: event.sessionKey,
  });
  const tail = JSON.stringify({ attempt, created_at: new Date(event.acceptedAt).toISOString() });
  return `${head.slice(0, -1)},"payload":${event.payloadRaw},${tail.slice(1)}`;
}

export function agentCancelFrame(eventId: string): string {
  return JSON.stringify({ type: 'cancel', event_id: eventId });
}

/**
 * What every token frame of one event starts with, up to its token: made once per delivery
 * (`InFlight.tokenHead`), as the ids it encodes are most of a token frame's work but the token.
 */
export function appTokenHead(event: Pick<EventRecord, 'id' | 'agentId'>): string {
  return `{"type":"token","event_id":${JSON.stringify(event.id)},"agent_id":${JSON.stringify(event.agentId)},"token":`;
}

/**
 * `head` from appTokenHead. `tokenJson`, the token's JSON string as the agent wrote it (the
 * parser's fast path has it), is spliced in as it stands rather than encoded again: the token is
 * most of a frame's text.
 */
export function appTokenFrame(head: string, token: string, seq: number, attempt: number, tokenJson = JSON.stringify(token)): string {
  return `${head}${tokenJson},"seq":${seq},"attempt":${attempt}}`;
}

export function resumedFrame(eventId: string, attempt: number, fromSeq: number, ref: string | undefined): string {
  return JSON.stringify({ type: 'resumed', event_id: eventId, attempt, from_seq: fromSeq, ...(ref !== undefined ? { ref } : {}) });
}

/**
 * The final reply as it is stored and handed between nodes: the answer once, under `content`,
 * first after `type` (see `finalOnWire`); the payload the agent echoed (or the original); and
 * metadata with tokens_used and latency_ms filled in.
 */
export function appReplyFrame(
  event: EventRecord,
  reply: AgentReplyFrame,
  echoedPayloadRaw: string | undefined,
  tokenCount: number,
  now: number,
): string {
  const agentMeta = reply.metadata ?? {};
  const metadata = {
    ...agentMeta,
    tokens_used: typeof agentMeta.tokens_used === 'number' ? agentMeta.tokens_used : tokenCount,
    latency_ms: Math.max(0, now - event.acceptedAt),
  };
  const head = JSON.stringify({
    type: 'reply',
    content: reply.content,
    event_id: event.id,
    agent_id: event.agentId,
    thread_id: event.threadId,
    finish_reason: reply.finish_reason,
    ...(reply.error !== undefined ? { error: reply.error } : {}),
  });
  const payload = echoedPayloadRaw ?? event.payloadRaw;
  return `${head.slice(0, -1)},"payload":${payload},"metadata":${JSON.stringify(metadata)}}`;
}

const STORED_REPLY_HEAD = '{"type":"reply","content":';

/**
 * A final frame as the app sees it: a stored reply gains `reply`, a copy of `content` (the
 * protocol carries the answer under both names), so Redis, the bus and the outbox carry it once.
 * Other finals are sent as they are.
 */
export function finalOnWire(stored: string): string {
  if (!stored.startsWith(STORED_REPLY_HEAD)) return stored;
  const start = STORED_REPLY_HEAD.length;
  let end: number;
  if (stored.startsWith('null', start)) end = start + 4;
  else {
    // the closing quote of the JSON string: the first one after an even run of backslashes
    end = start;
    for (;;) {
      end = stored.indexOf('"', end + 1);
      let slashes = 0;
      while (stored[end - 1 - slashes] === '\\') slashes += 1;
      if (slashes % 2 === 0) break;
    }
    end += 1;
  }
  const content = stored.slice(start, end);
  return `${stored.slice(0, end)},"reply":${content}${stored.slice(end)}`;
}
