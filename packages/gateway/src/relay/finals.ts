import { isRequestId, nodeOfConnection } from '../ids';
import type { AppRecord, ConnectionInfo, EventRecord, StreamEnd } from '../ports';
import type { RelayContext } from './context';
import { heldUntilAccepted } from './accepting';
import { writeFinal, type FinalForApp } from './send-to';
import { scheduleWebhook } from './webhooks';

/**
 * Final frames reach the app at least once: the connection that sent the event if it is still
 * open, else any other connection of the app on any node, else the outbox, which the app's next
 * connection empties; and, if the app has a webhook, its first try is scheduled. Once both are
 * on their way, no node need send the frame again. `stream`: the tokens the answering attempt
 * sent, which the connection that takes the final gets first, from the record, if it was not
 * written them live (their frames went astray, or it is not the connection they went to).
 */
export async function deliverFinal(ctx: RelayContext, event: EventRecord, text: string, extras: FinalExtras = {}): Promise<void> {
  const app = extras.app ?? ctx.backend.registry.app(event.appId);
  app.catch(() => {}); // awaited below, once the frame is handed on
  await handOn(ctx, event, text, extras.stream, extras.origin);
  // The webhook gets the final as recorded, without the ref a cancel's answer carries.
  await scheduleWebhook(ctx, await app, event.id, event.final ?? text);
  await ctx.backend.events.finalHandedOn(event.id);
}

export interface FinalExtras {
  stream?: StreamEnd;
  /**
   * The app's record, for its webhook, when the caller read it beside the event's finish: then
   * marking the final handed on need not wait for a read of its own.
   */
  app?: Promise<AppRecord | null>;
  /** Where the app connection is, looked up beside the event's finish (lookUpOrigin). */
  origin?: OriginLookup;
}

/** The presence entry of an app connection, read before the final was decided. */
export interface OriginLookup {
  connId: string;
  found: Promise<ConnectionInfo | null>;
}

/**
 * Starts the read of where an app connection is, for the final about to be decided: sent beside
 * the finish, it costs the final's way no round trip of its own. None is needed for a connection
 * on this node, or for an HTTP request's, which is in no presence list (its node is in its id).
 */
export function lookUpOrigin(ctx: RelayContext, appConnId: string): OriginLookup | undefined {
  if (ctx.local.has(appConnId) || isRequestId(appConnId)) return undefined;
  const found = ctx.backend.presence.get(appConnId);
  found.catch(() => {}); // awaited by handOn, unless the event had ended
  return { connId: appConnId, found };
}

/**
 * Finals that no node handed on within `graceMs` of deciding them: their node died (or lost
 * Redis) between finishing the event and sending the final. Any node sends them again; an app
 * that got one after all sees it twice, and dedupes by event_id.
 */
export async function resendOverdueFinals(ctx: RelayContext, graceMs: number): Promise<void> {
  const now = Date.now();
  for (const eventId of await ctx.backend.events.overdueFinals(now - graceMs, now, 100)) {
    const event = await ctx.backend.events.get(eventId);
    if (event?.final === undefined) {
      // The finished record has expired: there is nothing left to send.
      ctx.log.warn({ event_id: eventId }, 'overdue final frame forgotten before it could be sent again');
      await ctx.backend.events.finalHandedOn(eventId);
      continue;
    }
    ctx.log.warn({ event_id: eventId, app_id: event.appId }, 'final frame never handed on; sending it again');
    await deliverFinal(ctx, event, event.final);
  }
}

async function handOn(ctx: RelayContext, event: EventRecord, text: string, stream: StreamEnd | undefined, looked: OriginLookup | undefined): Promise<void> {
  // Where lookUpOrigin needs no lookup (a connection on this node, an HTTP request's) the node is
  // in the id; a request's node drops the frame on to another connection or the outbox if the
  // stream has ended (finalTo below). Another connection's entry may have been read already,
  // unless the event has moved to a connection since.
  const { appConnId } = event;
  const lookup = looked?.connId === appConnId ? looked : lookUpOrigin(ctx, appConnId);
  const origin = lookup ? await lookup.found : { connId: appConnId, nodeId: nodeOfConnection(appConnId) };
  const final = { appId: event.appId, eventId: event.id, text, stream };
  if (origin && (await finalTo(ctx, origin, final))) return;
  await rerouteFinal(ctx, final, event.appConnId);
}

/**
 * A final frame whose connection is gone: another connection of the app, or the outbox.
 * `avoid` lists nodes the frame was already sent to in vain (gone, though perhaps not yet
 * known dead), so two dead nodes cannot bounce it between them.
 */
export async function rerouteFinal(ctx: RelayContext, final: FinalForApp, notConnId: string, avoid: string[] = []): Promise<void> {
  const { appId, eventId, text, stream } = final;
  const others = (await ctx.backend.presence.list('app', appId)).filter(
    (c) => c.connId !== notConnId && !avoid.includes(c.nodeId),
  );
  for (const other of others) {
    if (await finalTo(ctx, other, final, avoid, true)) return;
  }
  await holdFinal(ctx, final);
  // A connection that opened while we looked has already emptied the outbox: empty it again for it.
  const late = (await ctx.backend.presence.list('app', appId)).find((c) => c.connId !== notConnId);
  if (late?.nodeId === ctx.nodeId) {
    const conn = ctx.local.get(late.connId);
    if (conn) await flushOutbox(ctx, conn.id, appId);
  }
}

/**
 * A final frame to one app connection. False when that connection is on this node and gone (or
 * refused the frame): the caller then finds it another way. `avoid` travels with a frame to
 * another node: the nodes it was already sent to in vain. A connection still taking its outbox
 * (flushOutbox) gets the final behind that backlog, through the outbox, so that a live final
 * cannot fill it past RELAY_MAX_BUFFERED_BYTES before it has had a chance to read.
 *
 * `paced`: the final goes through the outbox and a flush however the connection stands, paced by
 * its reads. Rerouted finals go so: a reroute may carry many large finals at once (a closed
 * socket's unflushed ones, handed back one after another), which written as they come would
 * close with 1013 a connection that reads as fast as it can.
 */
export async function finalTo(
  ctx: RelayContext,
  to: Pick<ConnectionInfo, 'connId' | 'nodeId'>,
  final: FinalForApp,
  avoid: string[] = [],
  paced = false,
): Promise<boolean> {
  if (to.nodeId !== ctx.nodeId) {
    const { stream, ...rest } = final;
    ctx.backend.bus.publish(to.nodeId, {
      kind: 'app-final',
      connId: to.connId,
      ...rest,
      ...(avoid.length > 0 ? { avoid } : {}),
      ...(stream ? { stream } : {}),
      ...(paced ? { paced } : {}),
    });
    return true;
  }
  if (!paced && !ctx.outboxFlushes.has(to.connId)) return finalToLocal(ctx, to.connId, final);
  if (!ctx.local.has(to.connId)) return false;
  await holdFinal(ctx, final);
  await flushOutbox(ctx, to.connId, final.appId);
  return true;
}

/**
 * A final to a connection on this node. One for an event whose `accepted` is not out yet follows
 * it (accepting.ts); should the connection close first, the final goes on from there, as from
 * any connection that is gone.
 */
function finalToLocal(ctx: RelayContext, connId: string, final: FinalForApp): boolean {
  const afterAccepted = () => {
    if (!writeFinal(ctx, connId, final)) ctx.track('final', rerouteFinal(ctx, final, connId));
  };
  if (ctx.local.has(connId) && heldUntilAccepted(ctx, final.eventId, afterAccepted)) return true;
  return writeFinal(ctx, connId, final);
}

async function holdFinal(ctx: RelayContext, { appId, eventId, text, stream }: FinalForApp): Promise<void> {
  await ctx.backend.outbox.put(appId, { eventId, text, heldUntil: Date.now() + ctx.limits.finalRetentionMs, ...(stream ? { stream } : {}) });
  ctx.metrics.finalsHeld.inc();
  ctx.log.info({ event_id: eventId, app_id: appId }, 'final frame held in the app outbox');
}

/**
 * Hands every held final frame of the app to this connection, paced by its send buffer: a
 * connection that has just opened must not be closed (1013) for a backlog it had no chance to
 * read yet. The outbox is taken a piece at a time, and a piece's finals are written one by one,
 * each only while the connection is not backed up; the rest wait for it to drain. (A piece's
 * size counts finals as stored; on the wire a reply carries its content twice, so a piece
 * written at once could pass RELAY_MAX_BUFFERED_BYTES by itself.) What was not taken stays in
 * the outbox untouched, and the node holds one piece at a time; should the connection close
 * first, what is left of the piece goes on from there (`leftOfPiece`).
 *
 * One flush per connection: two would each write before either saw the buffer fill. A call
 * while one runs makes it take again before it ends, for what was held since its last take.
 */
export async function flushOutbox(ctx: RelayContext, connId: string, appId: string): Promise<void> {
  const running = ctx.outboxFlushes.get(connId);
  if (running) {
    running.again = true;
    return;
  }
  const flush: OutboxFlush = { again: false, piece: [] };
  ctx.outboxFlushes.set(connId, flush);
  await pumpOutbox(ctx, connId, appId, flush);
}

async function pumpOutbox(ctx: RelayContext, connId: string, appId: string, flush: OutboxFlush): Promise<void> {
  try {
    for (;;) {
      const conn = ctx.local.get(connId);
      if (!conn) {
        flushEnded(ctx, connId, flush);
        return await rerouteAll(ctx, flush.piece.splice(0), connId);
      }
      if (conn.backedUp()) {
        conn.whenDrained(() => ctx.track('final', pumpOutbox(ctx, connId, appId, flush)));
        return;
      }
      const final = flush.piece.shift();
      if (final) {
        if (!finalToLocal(ctx, connId, final)) await rerouteAll(ctx, [final], connId);
        continue;
      }
      flush.again = false;
      const piece = await ctx.backend.outbox.take(appId, Date.now());
      if (piece.length === 0 && !flush.again) return flushEnded(ctx, connId, flush);
      flush.piece = piece.map((held) => ({ appId, eventId: held.eventId, text: held.text, stream: held.stream }));
    }
  } catch (err) {
    // A failed step (Redis is down) ends this flush, so that a later one can start; what it
    // held of its piece goes on as from a connection that is gone.
    flushEnded(ctx, connId, flush);
    ctx.track('final', rerouteAll(ctx, flush.piece.splice(0), connId));
    throw err;
  }
}

/**
 * What a flush had taken from the outbox and not yet written, taken from it: for the caller to
 * send on when the connection closes while the flush waits for it to drain.
 */
export function leftOfPiece(ctx: RelayContext, connId: string): FinalForApp[] {
  return ctx.outboxFlushes.get(connId)?.piece.splice(0) ?? [];
}

/**
 * Finals that were on their way to a connection that is gone, sent on one after another; each
 * one the backend refuses (Redis is down) is owed and sent again once it is back.
 */
export async function rerouteAll(ctx: RelayContext, finals: FinalForApp[], connId: string): Promise<void> {
  for (const final of finals) await ctx.owed.run({ step: 'final', conn: connId }, () => rerouteFinal(ctx, final, connId));
}

/** Where this node's outbox flushes stand, by connection id (flushOutbox). */
export type OutboxFlushes = Map<string, OutboxFlush>;

interface OutboxFlush {
  /** A final was held for the connection since the flush last took from the outbox. */
  again: boolean;
  /** What the flush took from the outbox and has not written yet, in order. */
  piece: FinalForApp[];
}

function flushEnded(ctx: RelayContext, connId: string, flush: OutboxFlush): void {
  if (ctx.outboxFlushes.get(connId) === flush) ctx.outboxFlushes.delete(connId);
}

/** Empties each app's outbox into one of its connections on this node (see liveness.ts). */
export async function flushOutboxesHere(ctx: RelayContext): Promise<void> {
  const oneConnPerApp = new Map<string, string>();
  for (const conn of ctx.local.values()) {
    if (conn.role === 'app' && conn.channel === 'socket' && !oneConnPerApp.has(conn.principal.id)) oneConnPerApp.set(conn.principal.id, conn.id);
  }
  for (const [appId, connId] of oneConnPerApp) await flushOutbox(ctx, connId, appId);
}
