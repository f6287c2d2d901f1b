import { MAX_AGENT_FRAME_BYTES, parseAgentFrame, webhookHeaders, type AgentReplyFrame, type AgentTokenFrame } from '@relay/protocol';
import { acceptReply, relayToken } from '../relay/agent-frames';
import type { Connection } from '../relay/connection';
import type { InFlight, RelayContext } from '../relay/context';
import { dispatched } from '../relay/delivery';
import { forgetInFlight, replyTimer } from '../relay/lifecycle';
import { agentCancelFrame } from '../relay/outbound';
import { AnswerError, ndjsonLines, readText } from './ndjson';

// An HTTP agent as the core sees it: one agent connection with `max_in_flight` places, attached
// to the delivery queue like a socket, whose "socket" is the agent's webhook. The core writes
// the event frame to it (send-to.ts eventToAgent) and this connection POSTs it; what the agent
// answers goes through the same functions as a socket agent's frames (agent-frames.ts), so
// recording for resume, routing to the app, finals and metrics are the same code.

export interface HttpAgentSettings {
  /** How long the agent may take to send its answer's status line (RELAY_AGENT_WEBHOOK_TIMEOUT_MS). */
  requestTimeoutMs: number;
  /** Backoff before the first redelivery of a failed one; doubles each attempt, at most a minute. */
  backoffBaseMs: number;
}

/** Where and how to POST; refreshed from the registry, so a rotated secret signs the next request. */
export interface WebhookTarget {
  url: string;
  secret: string;
}

export interface HttpAgentConnection extends Connection {
  target: WebhookTarget;
  /**
   * A frame the agent POSTed later (it answered its event with 202). False when this
   * connection holds no unanswered event of that id (cancelled, timed out, answered, or never here).
   */
  later(frame: AgentTokenFrame | AgentReplyFrame, payloadRaw: string | undefined): Promise<boolean>;
}

const BACKOFF_MAX_MS = 60_000;

/** Backoff before delivery number `attempt` + 1, after delivery `attempt` failed. */
export function webhookBackoff(baseMs: number, attempt: number): number {
  return Math.min(baseMs * 2 ** Math.max(0, attempt - 1), BACKOFF_MAX_MS);
}

type Ending = 'done' | 'failed';

/** One event POSTed (or about to be) by this connection. */
interface Delivery {
  held: InFlight;
  controller: AbortController;
  /**
   * Where the request is: `waiting` behind its session, `sent` with no status line yet,
   * `streaming` a 200 answer, `later` after a 202 (the agent replies through the HTTP API).
   */
  phase: 'waiting' | 'sent' | 'streaming' | 'later';
  /** Ended by a cancel or the connection's close: an abort is no failure. */
  letGo: boolean;
  ended: Promise<Ending>;
  end(how: Ending): void;
}

const EVENT_PREFIX = '{"type":"event"';
const CANCEL_PREFIX = '{"type":"cancel"';

export function createHttpAgentConnection(
  ctx: RelayContext,
  init: { connId: string; agentId: string; target: WebhookTarget; settings: HttpAgentSettings; onClose(conn: HttpAgentConnection): void },
): HttpAgentConnection {
  const { connId, agentId, settings } = init;
  const deliveries = new Map<string, Delivery>();
  /** Per session, how its latest delivery ended: the next one starts after that (session order). */
  const sessionTails = new Map<string, Promise<Ending>>();
  /** Per event, the frames the agent POSTed later, one after another. */
  const lanes = new Map<string, Promise<unknown>>();
  let closed = false;

  const outcome = (label: string) => ctx.metrics.agentWebhookDeliveries.inc({ agent: agentId, outcome: label });

  const conn: HttpAgentConnection = {
    id: connId,
    role: 'agent',
    // In the presence lists, as an agent socket is: that is how its node's death hands its events back.
    channel: 'socket',
    principal: { role: 'agent', id: agentId, tokenId: 'webhook' },
    since: Date.now(),
    target: init.target,
    send(text) {
      if (closed) return false;
      if (text.startsWith(EVENT_PREFIX)) start(eventIdOf(text), text);
      else if (text.startsWith(CANCEL_PREFIX)) cancel(eventIdOf(text));
      // An error frame answers a frame the agent sent: over HTTP, the status code says it.
      return true;
    },
    backedUp: () => false,
    whenDrained: (listener) => listener(),
    sendFinal: () => false,
    hasSentFinal: () => false,
    close() {
      if (closed) return;
      closed = true;
      for (const d of deliveries.values()) letGo(d);
      init.onClose(conn);
    },
    later(frame, payloadRaw) {
      const lane = (lanes.get(frame.event_id) ?? Promise.resolve()).then(() => laterFrame(frame, payloadRaw));
      const tail = lane.catch(() => undefined);
      lanes.set(frame.event_id, tail);
      void tail.then(() => lanes.get(frame.event_id) === tail && lanes.delete(frame.event_id));
      return lane;
    },
  };

  const holds = (held: InFlight | undefined): held is InFlight => held !== undefined && held.connId === connId && !held.answered;

  async function laterFrame(frame: AgentTokenFrame | AgentReplyFrame, payloadRaw: string | undefined): Promise<boolean> {
    if (!holds(ctx.inFlight.get(frame.event_id))) return false;
    if (frame.type === 'token') {
      relayToken(ctx, conn, frame);
      return true;
    }
    await acceptReply(ctx, conn, frame, payloadRaw);
    deliveries.get(frame.event_id)?.end('done');
    return true;
  }

  function start(eventId: string, body: string): void {
    const held = ctx.inFlight.get(eventId);
    if (!holds(held) || deliveries.has(eventId)) return;
    // The silence timeout counts from the request, not from the wait behind the session's previous event.
    clearTimeout(held.timer);
    let end!: (how: Ending) => void;
    const ended = new Promise<Ending>((resolve) => (end = resolve));
    const d: Delivery = { held, controller: new AbortController(), phase: 'waiting', letGo: false, ended, end };
    deliveries.set(eventId, d);
    void ended.then(() => deliveries.get(eventId) === d && deliveries.delete(eventId));
    const session = held.event.sessionKey;
    const before = sessionTails.get(session) ?? Promise.resolve<Ending>('done');
    sessionTails.set(session, ended);
    void ended.then(() => sessionTails.get(session) === ended && sessionTails.delete(session));
    ctx.track('agent-webhook', deliver(d, before, body));
  }

  async function deliver(d: Delivery, before: Promise<Ending>, body: string): Promise<void> {
    const { held } = d;
    const previous = await before;
    if (d.letGo || ctx.inFlight.get(held.event.id) !== held) return d.end('done');
    // Its session's previous event goes again later: this one must not overtake it.
    if (previous === 'failed') return handBack(d, 'behind_failed');
    held.timer = replyTimer(ctx, held.event);
    try {
      outcome(await post(d, body));
      if (d.phase !== 'later') d.end('done');
    } catch (err) {
      if (d.letGo) return d.end('done');
      if (ctx.inFlight.get(held.event.id) !== held) return d.end('done'); // ended meanwhile
      await handBack(d, failureReason(err), err);
    }
  }

  /** POSTs the event and hands its answer on; throws when the delivery failed. */
  async function post(d: Delivery, body: string): Promise<string> {
    const { held, controller } = d;
    const { url, secret } = conn.target;
    const sentAt = Date.now();
    // A redelivery is another message: the agent must not take it for a duplicate of the first.
    const headers = await webhookHeaders(secret, `${held.event.id}.${held.attempt}`, body);
    const timeout = setTimeout(() => controller.abort(new AnswerTimeout()), settings.requestTimeoutMs);
    let res: Response;
    d.phase = 'sent';
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
        redirect: 'manual',
        signal: controller.signal,
      });
    } finally {
      clearTimeout(timeout);
    }
    ctx.metrics.agentWebhookLatency.observe({ agent: agentId }, (Date.now() - sentAt) / 1000);
    if (res.status === 202) {
      await res.body?.cancel();
      d.phase = 'later';
      return 'later';
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new StatusError(res.status);
    }
    d.phase = 'streaming';
    const type = (res.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase();
    if (type === 'application/json') {
      const { frame, payloadRaw } = answerFrame(held.event.id, await readText(res.body, MAX_AGENT_FRAME_BYTES), 'reply');
      if (frame.type !== 'reply') throw new AnswerError('invalid_line', 'A JSON answer is the reply');
      if (ctx.inFlight.get(held.event.id) === held) await acceptReply(ctx, conn, frame, payloadRaw);
      return 'reply';
    }
    if (type === 'application/x-ndjson' && res.body) {
      let first = true;
      for await (const line of ndjsonLines(res.body, MAX_AGENT_FRAME_BYTES)) {
        if (first) ctx.metrics.agentWebhookFirstLine.observe({ agent: agentId }, (Date.now() - sentAt) / 1000);
        first = false;
        if (ctx.inFlight.get(held.event.id) !== held) break; // cancelled or timed out: stop reading
        const parsed = answerFrame(held.event.id, line);
        if (parsed.frame.type === 'token') relayToken(ctx, conn, parsed.frame);
        else if (parsed.frame.type === 'reply') {
          await acceptReply(ctx, conn, parsed.frame, parsed.payloadRaw);
          controller.abort(new Answered()); // anything after the reply line is not read
          return 'stream';
        }
      }
      if (ctx.inFlight.get(held.event.id) !== held) {
        controller.abort(new LetGo());
        return 'stream';
      }
      throw new AnswerError('no_reply', 'The NDJSON answer ended without a reply line');
    }
    await res.body?.cancel();
    throw new StatusError(200, type ?? '');
  }

  /** The delivery failed: the event goes back to the queue, to be POSTed again after a backoff. */
  async function handBack(d: Delivery, reason: string, err?: unknown): Promise<void> {
    const { event, attempt } = d.held;
    outcome(reason);
    ctx.log.warn(
      { event_id: event.id, agent_id: agentId, attempt, reason, err: err instanceof Error ? err.message : undefined },
      'agent webhook delivery failed; redelivering after a backoff',
    );
    forgetInFlight(ctx, event.id);
    d.end('failed');
    const notBefore = Date.now() + webhookBackoff(settings.backoffBaseMs, attempt);
    await ctx.owed.run({ step: 'retry-later', event_id: event.id, conn: connId }, async () => {
      // the pump that assigns it again once its backoff is over, scheduled first: a retry of this
      // step after a lost answer must not leave it waiting with nobody to pump it
      await ctx.backend.scheduler.at(notBefore, { kind: 'release', agentId, notBefore });
      await dispatched(ctx, await ctx.backend.queue.retryLater(agentId, connId, event.id, notBefore));
    });
  }

  function cancel(eventId: string): void {
    const d = deliveries.get(eventId);
    if (!d) return;
    // After a 202 the agent hears of the cancel by a POST of its own; so does one whose status
    // line is still on its way, as it may be a 202. A streamed answer is stopped by the abort.
    if (d.phase === 'later' || d.phase === 'sent') ctx.track('agent-webhook', postCancel(eventId));
    letGo(d);
  }

  function letGo(d: Delivery): void {
    d.letGo = true;
    d.controller.abort(new LetGo());
    d.end('done');
  }

  async function postCancel(eventId: string): Promise<void> {
    const body = agentCancelFrame(eventId);
    const headers = await webhookHeaders(conn.target.secret, `${eventId}.cancel`, body);
    const res = await fetch(conn.target.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(settings.requestTimeoutMs),
    });
    await res.body?.cancel();
    outcome(res.ok ? 'cancel_sent' : 'cancel_refused');
  }

  return conn;
}

class AnswerTimeout extends Error {}
class Answered extends Error {}
class LetGo extends Error {}

class StatusError extends Error {
  constructor(
    readonly status: number,
    contentType?: string,
  ) {
    super(contentType === undefined ? `The agent answered ${status}` : `The agent answered 200 with content-type "${contentType}"`);
  }
}

/** A bounded metric label for why a delivery failed. */
function failureReason(err: unknown): string {
  if (err instanceof StatusError) return err.status === 200 ? 'content_type' : `http_${Math.floor(err.status / 100)}xx`;
  if (err instanceof AnswerError) return err.reason;
  if (err instanceof AnswerTimeout || (err instanceof Error && err.name === 'TimeoutError')) return 'timeout';
  return 'network'; // refused, reset, a stream broken midway
}

function eventIdOf(frameText: string): string {
  return (JSON.parse(frameText) as { event_id: string }).event_id;
}

/**
 * One line of the agent's answer (or its whole JSON reply, whose `type` may be left out) as the
 * frame an agent socket would send for this event: checked by the same parser.
 */
function answerFrame(eventId: string, text: string, defaultType?: 'reply') {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new AnswerError('invalid_line', 'An answer line is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new AnswerError('invalid_line', 'An answer line is not a JSON object');
  const parsed = parseAgentFrame(JSON.stringify({ type: defaultType, ...value, event_id: eventId }));
  if (!parsed.ok || (parsed.frame.type !== 'token' && parsed.frame.type !== 'reply')) {
    throw new AnswerError('invalid_line', parsed.ok ? 'An answer line is neither a token nor a reply' : parsed.error.message);
  }
  return { frame: parsed.frame, payloadRaw: parsed.payloadRaw };
}
