import { ErrorCode, type AgentReplyFrame } from '@relay/protocol';
import type { AppRecord, EventRecord, Removal } from '../ports';
import type { Connection } from './connection';
import type { InFlight, RelayContext } from './context';
import { dispatched } from './delivery';
import { deliverFinal, lookUpOrigin, type OriginLookup } from './finals';
import { errorFrame } from './outbound';
import { cancelToAgent } from './send-to';

// An event's life on this node, and the one place each of its milestones is recorded (metrics,
// timeline, log, the Dashboard's activity): accepted, delivered, tokens, ended. Whatever else
// watches events hooks in here.

/** The event is recorded and queued, and `accepted` is on its way to the app. */
export function eventAccepted(ctx: RelayContext, record: EventRecord, conn: Connection, queuedFor?: 'rate_limited' | 'offline'): void {
  ctx.note(record.id, {
    at: record.acceptedAt,
    kind: 'accepted',
    node: ctx.nodeId,
    appId: record.appId,
    agentId: record.agentId,
    threadId: record.threadId,
    sessionKey: record.sessionKey,
    expiresAt: record.expiresAt,
  });
  if (queuedFor) ctx.note(record.id, { at: record.acceptedAt, kind: 'queued', node: ctx.nodeId, reason: queuedFor });
  ctx.metrics.eventsAccepted.inc({ agent: record.agentId });
  ctx.activity.accepted(record);
  // The happy path's lines are debug: at info they cost about a fifth of a node's CPU per event
  // (docs/benchmarks.md), and each event's steps are in its timeline anyway.
  ctx.log.debug(
    { event_id: record.id, agent_id: record.agentId, app_id: record.appId, queued: record.queued, conn: conn.id },
    'event accepted',
  );
}

/** The event was written to an agent socket on this node: its stream starts a new attempt. */
export function eventDelivered(ctx: RelayContext, event: EventRecord, conn: Connection, attempt: number): void {
  ctx.backend.streams.begin(event.id, event.agentId, attempt);
  ctx.note(event.id, { at: Date.now(), kind: 'delivered', node: ctx.nodeId, conn: conn.id, attempt });
  ctx.metrics.deliveries.inc({ attempt: attempt === 1 ? '1' : 'retry' });
  ctx.metrics.deliveryLatency.observe(secondsSince(event.acceptedAt));
  ctx.activity.delivered(event, attempt);
  ctx.log.debug({ event_id: event.id, agent_id: event.agentId, app_id: event.appId, conn: conn.id, attempt }, 'event delivered');
}

/**
 * The agent sent a token for this delivery; `seq` 0 is its first. It is recorded here, before
 * it is handed to the app: the record is queued in this turn, ahead of any later record, and
 * written at the latest at the end of the turn (ports/token-stream.ts), while the token frame
 * is written to the app's socket in this turn or later. Once an attempt has recorded
 * RELAY_STREAM_MAX_BYTES, its later tokens are relayed only, and counted: without a bound, one
 * agent streaming without end would hold a node's memory (or Redis's).
 */
export function tokenRelayed(ctx: RelayContext, held: InFlight, token: string, seq: number): void {
  const bytes = Buffer.byteLength(token);
  if (held.recordedBytes + bytes <= ctx.limits.streamMaxBytes) {
    held.recordedBytes += bytes;
    ctx.backend.streams.append(held.event.id, held.event.agentId, held.attempt, seq, token);
  } else {
    held.recordedBytes = Infinity; // a later, smaller token must not leave a gap in the record
    ctx.metrics.tokensUnrecorded.inc({ reason: 'cap' });
  }
  ctx.activity.token(held.event, seq);
  if (seq > 0) return;
  ctx.note(held.event.id, { at: Date.now(), kind: 'first_token', node: ctx.nodeId, attempt: held.attempt });
  ctx.metrics.timeToFirstToken.observe({ agent: held.event.agentId }, secondsSince(held.event.acceptedAt));
}

/** How an event ended: the agent's reply, or a final error. */
export type Outcome = { reply: AgentReplyFrame['finish_reason'] } | { code: ErrorCode; message?: string | undefined };

/** The event ended, once cluster-wide, on this node; its final frame is about to be handed on. */
export function eventEnded(ctx: RelayContext, event: EventRecord, outcome: Outcome): void {
  const ids = { event_id: event.id, agent_id: event.agentId, app_id: event.appId };
  if ('reply' in outcome) {
    ctx.metrics.eventsFinished.inc({ outcome: `reply_${outcome.reply}` });
    ctx.metrics.timeToReply.observe({ agent: event.agentId }, secondsSince(event.acceptedAt));
    ctx.activity.ended(event, `reply_${outcome.reply}`);
    ctx.note(event.id, { at: Date.now(), kind: 'final', node: ctx.nodeId, outcome: 'reply', finishReason: outcome.reply });
    ctx.log.debug({ ...ids, finish_reason: outcome.reply }, 'event answered');
    return;
  }
  ctx.metrics.eventsFinished.inc({ outcome: outcome.code });
  ctx.activity.ended(event, outcome.code);
  ctx.note(event.id, {
    at: Date.now(),
    kind: 'final',
    node: ctx.nodeId,
    outcome: outcome.code,
    ...(outcome.message ? { reason: outcome.message } : {}),
  });
  ctx.log.info({ ...ids, code: outcome.code }, 'event ended');
}

/** AGENT_TIMEOUT once the agent holding the event has been silent for the reply timeout. */
export function replyTimer(ctx: RelayContext, event: EventRecord): NodeJS.Timeout {
  return setTimeout(() => {
    ctx.track('agent-timeout', finishWithError(ctx, event.id, ErrorCode.AGENT_TIMEOUT));
  }, ctx.limits.replyTimeoutMs);
}

/**
 * Ends an event with a final error (EVENT_EXPIRED, AGENT_TIMEOUT, CANCELLED). An agent still
 * working on it is told to stop. Does nothing if the event has already ended. `ref` is the
 * cancel frame's, when the final error is also the answer to it; `message` replaces the code's
 * default text when the app should know why (an operator deleted the agent).
 */
export async function finishWithError(
  ctx: RelayContext,
  eventId: string,
  code: ErrorCode,
  ref?: string,
  message?: string,
): Promise<boolean> {
  const known = ctx.inFlight.get(eventId)?.event ?? (await ctx.backend.events.get(eventId));
  if (!known) return false;
  // The final kept with the event carries no ref: a resend from another connection may get it.
  const final = errorFrame(code, message, { event_id: eventId });
  const toSender = ref === undefined ? final : errorFrame(code, message, { event_id: eventId, ref });
  const settled = await settle(ctx, known, final, (connId) => cancelToAgent(ctx, connId, eventId));
  if (!settled) return false;
  eventEnded(ctx, settled.event, { code, message });
  await deliverFinal(ctx, settled.event, toSender, { app: settled.app, origin: settled.origin });
  return true;
}

/**
 * Marks the event finished with its final frame (exactly once, cluster-wide) and takes it out of
 * the queue, freeing its agent connection's capacity for the next event. Returns null if it had
 * already ended; else the event, with its app's record for the webhook and its app connection's
 * presence entry, both read beside the finish (in its write), so neither handing the final on nor
 * marking it handed on waits for a read of its own. The caller then hands the final on with
 * `deliverFinal`.
 *
 * An event that had ended is taken out of the queue too: its finisher does that, unless it died
 * first, and then a redelivery of it would hold an agent connection's place for ever.
 */
export async function settle(
  ctx: RelayContext,
  known: Pick<EventRecord, 'id' | 'agentId' | 'appId' | 'appConnId'>,
  final: string,
  whileInFlight?: (connId: string) => Promise<void>,
): Promise<{ event: EventRecord; app: Promise<AppRecord | null>; origin: OriginLookup | undefined } | null> {
  // The tokens this node relayed are recorded before the final is: a replay or a stream's tail
  // read once the final is known is then the whole stream (resume.ts endStream). Where the store
  // runs commands in call order, it is enough that their writes went first: the finish then
  // need not wait for their reply. While Redis is down this fails at once, like the finish would.
  await (ctx.backend.runsInCallOrder ? ctx.backend.streams.sent() : ctx.backend.streams.flushed(true));
  const app = ctx.backend.registry.app(known.appId);
  app.catch(() => {}); // awaited by deliverFinal, unless the event had ended
  const origin = lookUpOrigin(ctx, known.appConnId);
  const { removed, event } = await finishThenRemove(ctx, known.id, known.agentId, final);
  if (removed.was === 'in-flight' && removed.connId !== undefined && whileInFlight) await whileInFlight(removed.connId);
  forgetInFlight(ctx, known.id);
  await dispatched(ctx, removed);
  return event && { event, app, origin };
}

/**
 * The event finished, then out of the queue: an event out of the queue but not finished would be
 * held by nothing. Once it is known finished here, its expiry is cancelled and its token stream
 * ended. Where the store carries out steps in call order, all of it is one step
 * (Backend.finishAndRemove); elsewhere the removal, the cancel and the stream's end go together
 * after the finish.
 */
async function finishThenRemove(ctx: RelayContext, eventId: string, agentId: string, final: string): Promise<{ event: EventRecord | null; removed: Removal }> {
  const { events, queue, scheduler, streams, finishAndRemove } = ctx.backend;
  if (!finishAndRemove) {
    const event = await events.finish(eventId, final, Date.now());
    if (event) streams.ended(eventId, agentId);
    const [removed] = await Promise.all([queue.remove(agentId, eventId, false), event && scheduler.cancel({ kind: 'expire', agentId, eventId })]);
    return { event, removed };
  }
  const { removed, finished } = await finishAndRemove(eventId, agentId, final, Date.now());
  const event = await finished.catch((err: unknown) => {
    // The end is not known to hold (not durable, or the store failed): what the removal freed
    // goes out still, and the event keeps its reply timer, so a reply sent again ends it.
    ctx.track('dispatch', dispatched(ctx, removed));
    throw err;
  });
  return { event, removed };
}

/**
 * The app resent an in-flight event from another connection: if this node holds it, its tokens
 * go to that connection from now on. Says whether this node holds it.
 */
export function followApp(ctx: RelayContext, eventId: string, appConnId: string): boolean {
  const held = ctx.inFlight.get(eventId);
  if (!held) return false;
  held.event = { ...held.event, appConnId };
  return true;
}

export function forgetInFlight(ctx: RelayContext, eventId: string): void {
  const held = ctx.inFlight.get(eventId);
  if (!held) return;
  clearTimeout(held.timer);
  ctx.inFlight.delete(eventId);
  ctx.letGo.add(deliveryKey(eventId, held.attempt));
}

/** Seconds from an instant to now; never negative, though nodes' clocks may differ a little. */
function secondsSince(at: number): number {
  return Math.max(0, Date.now() - at) / 1000;
}

/** Names one delivery of an event: a redelivery is another attempt, so another key. */
export function deliveryKey(eventId: string, attempt: number): string {
  return `${eventId}#${attempt}`;
}
