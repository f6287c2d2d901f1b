import { ErrorCode, type ResumeFrame } from '@relay/protocol';
import { nodeOfConnection } from '../ids';
import type { EventRecord, StreamEnd } from '../ports';
import type { Connection } from './connection';
import type { RelayContext } from './context';
import { rerouteFinal } from './finals';
import { followApp } from './lifecycle';
import { appTokenFrame, appTokenHead, resumedFrame } from './outbound';
import { RelayError } from './relay-error';

// Where an event's stream stands on each app connection of this node, and an app's `resume`: the
// recorded tokens of an event's current attempt, then its live ones, then its final, each once
// and in order, on this connection.
//
// The hard part is the seam between replay and live. The event's tokens are first pointed at
// this connection, and the replay is read only once the node holding the agent's socket has
// switched and written what it recorded before switching. Live tokens reaching this connection
// meanwhile wait behind a gate (as does the final); once the replay is written, those the replay
// already carried are dropped, and the rest go out. The gate then stays open as a filter until
// the final, so a live token that the replay overtook is still dropped, not written twice.
//
// Live frames can still go astray: the holder may never hear of the switch (the message lost, or
// later than a node TTL) and go on sending to the old connection, and a token frame between two
// nodes is lost when the bus's Redis is down. So the final is the check: it says how many tokens
// its attempt sent (recorded before the final was: lifecycle.ts settle), and a connection the
// event streams to that was written fewer gets the rest from the record first. And a live token
// that comes after a gap closes the gate like a replay, while the gap is read from the record.

/** Where an event's stream stands on one app connection of this node. */
export interface StreamGate {
  /** A replay (or the tail before the final) is being read: live tokens and the final wait. */
  replaying: boolean;
  /** Live tokens held back while the replay is read and written. */
  held: Array<{ text: string; attempt: number; seq: number }>;
  final?: string;
  /** What the final says its attempt sent: the connection must have been written all of it. */
  end?: StreamEnd | undefined;
  /** The last token written to the app: later live ones must come after it. */
  attempt: number;
  seq: number;
}

/** A token's place in its event's stream. */
export interface TokenAt {
  attempt: number;
  seq: number;
}

export function gateOf(ctx: RelayContext, connId: string, eventId: string): StreamGate | undefined {
  return ctx.gates.get(connId)?.get(eventId);
}

/** The event's gate on the connection, opened (nothing written yet) if it has none. */
export function openGate(ctx: RelayContext, connId: string, eventId: string): StreamGate {
  let gates = ctx.gates.get(connId);
  if (!gates) ctx.gates.set(connId, (gates = new Map()));
  let gate = gates.get(eventId);
  if (!gate) gates.set(eventId, (gate = { replaying: false, held: [], attempt: 0, seq: -1 }));
  return gate;
}

/** Whether a live token may be written to the connection now; a held one is kept in the gate. */
export function passGate(gate: StreamGate, text: string, at: TokenAt): boolean {
  if (gate.replaying) {
    gate.held.push({ text, ...at });
    return false;
  }
  return advance(gate, at);
}

/** Whether the token comes after the last one written (then it is the last one); false for one written already. */
function advance(gate: StreamGate, at: TokenAt): boolean {
  if (at.attempt < gate.attempt || (at.attempt === gate.attempt && at.seq <= gate.seq)) return false;
  gate.attempt = at.attempt;
  gate.seq = at.seq;
  return true;
}

/** Whether tokens of the token's attempt before it were never written to the connection. */
function leavesGap(gate: StreamGate, at: TokenAt): boolean {
  if (at.attempt === gate.attempt) return at.seq > gate.seq + 1;
  return at.attempt > gate.attempt && at.seq > 0;
}

/**
 * A live token for the connection, written now if it comes right after the last one written.
 * One that comes after a gap (the frames before it went astray on the bus) is held, with every
 * later one, while the gap is read from the record (fillGap).
 */
export function admitToken(ctx: RelayContext, conn: Connection, eventId: string, text: string, at: TokenAt): boolean {
  const gate = openGate(ctx, conn.id, eventId);
  if (gate.replaying || !leavesGap(gate, at)) return passGate(gate, text, at);
  gate.replaying = true;
  gate.held.push({ text, ...at });
  ctx.track('gap', fillGap(ctx, conn, eventId, gate));
  return false;
}

/** How often a gap's tokens are looked for in the record, which is written a turn or more after they were sent. */
const GAP_POLL_MS = [10, 50, 100, 250];

/**
 * Writes the held tokens in order, each gap before them first, read from the record. The record
 * lags the live frames (it is written in batches, and again and again while Redis is down), so
 * a gap is read until it is there; a final arriving meanwhile ends the wait (endStream reads
 * what is missing then, the record being complete by then). A gap still not recorded after two
 * node TTLs (the store unwritable that long, or the attempt past its record cap) is left, and
 * its tokens counted lost: `resume` may still fill it later.
 */
async function fillGap(ctx: RelayContext, conn: Connection, eventId: string, gate: StreamGate): Promise<void> {
  const deadline = Date.now() + 2 * ctx.limits.nodeTtlMs;
  let agentId: string | undefined;
  let polls = 0;
  const current = () => ctx.local.has(conn.id) && gateOf(ctx, conn.id, eventId) === gate;
  while (gate.held.length > 0 && gate.final === undefined && current()) {
    const next = gate.held[0] as StreamGate['held'][number];
    if (!leavesGap(gate, next)) {
      gate.held.shift();
      if (advance(gate, next)) conn.send(next.text, 'control');
      continue;
    }
    const after = next.attempt === gate.attempt ? gate.seq : -1;
    const missing = next.seq - after - 1;
    let tokens: string[] = [];
    try {
      agentId ??= (await ctx.backend.events.get(eventId))?.agentId;
      if (agentId === undefined) break; // the event is forgotten: nothing to fill from
      tokens = (await ctx.backend.streams.read(eventId, agentId, next.attempt, after)).slice(0, missing);
    } catch {
      // the store is down: looked for again, until the deadline
    }
    if (!current() || gate.final !== undefined) break;
    if (tokens.length < missing && Date.now() < deadline) {
      await sleep(GAP_POLL_MS[Math.min(polls++, GAP_POLL_MS.length - 1)] as number);
      continue;
    }
    refill(ctx, conn, { id: eventId, agentId: agentId as string }, tokens, after + 1, next.attempt);
    if (tokens.length < missing) {
      ctx.metrics.tokensDropped.inc({ reason: 'lost' }, missing - tokens.length);
      ctx.log.warn({ event_id: eventId, conn: conn.id, missing: missing - tokens.length }, 'tokens lost on the way were not in the record in time; the app can resume them');
    }
    gate.attempt = next.attempt;
    gate.seq = next.seq - 1;
    polls = 0;
  }
  if (!current()) return;
  if (gate.final !== undefined) return endStream(ctx, conn, eventId, gate);
  // tokens the loop left held: written through the gate, none ahead of an earlier gap
  gate.replaying = false;
  for (const live of gate.held.splice(0)) {
    if (advance(gate, live)) conn.send(live.text, 'control');
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Recorded tokens of an attempt, from seq `from` on, as control frames: a replay or a refill
 * dropped for backpressure would be a gap the app cannot see.
 */
function sendRecorded(conn: Connection, event: { id: string; agentId: string }, tokens: string[], from: number, attempt: number): number {
  const head = appTokenHead(event);
  let written = 0;
  tokens.forEach((token, i) => {
    if (conn.send(appTokenFrame(head, token, from + i, attempt), 'control')) written += 1;
  });
  return written;
}

/**
 * Recorded tokens written in place of live frames that went astray, and counted (those a
 * connection took: a plain HTTP request keeps only its answer).
 */
function refill(ctx: RelayContext, conn: Connection, event: { id: string; agentId: string }, tokens: string[], from: number, attempt: number): void {
  const written = sendRecorded(conn, event, tokens, from, attempt);
  if (written > 0) ctx.metrics.tokensRefilled.inc(written);
}

/** The event's final is going to the connection: after it, nothing of the event is. */
export function closeGate(ctx: RelayContext, connId: string, eventId: string): void {
  const gates = ctx.gates.get(connId);
  gates?.delete(eventId);
  if (gates?.size === 0) ctx.gates.delete(connId);
}

/** Whether the connection was written fewer of the attempt's tokens than the final says it sent. */
export function behind(gate: StreamGate | undefined, end: StreamEnd | undefined): boolean {
  if (!end || end.tokens === 0) return false;
  if (!gate) return true;
  return gate.attempt < end.attempt || (gate.attempt === end.attempt && gate.seq < end.tokens - 1);
}

/**
 * Writes the event's final to the connection, once its gate's replay is written: first the
 * recorded tokens of the final's attempt that the connection was not written (their live frames
 * went astray), then the final. A store that cannot be read (Redis is down) leaves the tail out:
 * the final still goes, whole, and `resume` fills the tail later.
 */
export async function endStream(ctx: RelayContext, conn: Connection, eventId: string, gate: StreamGate): Promise<void> {
  const final = gate.final as string;
  const end = gate.end;
  gate.replaying = true; // a late live frame must not pass the final
  if (end && behind(gate, end)) {
    try {
      await writeTail(ctx, conn, { id: eventId, agentId: end.agentId }, gate, end.attempt, end.tokens);
    } catch (err) {
      ctx.log.warn({ err, event_id: eventId, conn: conn.id }, 'could not read the tail of a stream before its final; sending the final');
    }
  }
  closeGate(ctx, conn.id, eventId);
  if (ctx.local.get(conn.id)?.sendFinal(eventId, final)) return;
  await rerouteFinal(ctx, { appId: conn.principal.id, eventId, text: final, stream: end }, conn.id);
}

/**
 * A finished event's final, written again to a connection that resent the event: first the
 * recorded tokens of its last attempt that the connection was not written, as before a final
 * routed here (endStream). The resend may come from an app that never saw the stream: one that
 * retried a send refused after the relay had recorded it (RELAY_UNAVAILABLE), from this process
 * or another, while the event streamed to another of its connections and ended. A resume or a
 * gap's refill already under way on this connection ends the stream itself, final included.
 */
export async function resendFinal(ctx: RelayContext, conn: Connection, record: EventRecord, final: string): Promise<void> {
  if (gateOf(ctx, conn.id, record.id)?.replaying) return;
  const gate = openGate(ctx, conn.id, record.id);
  gate.replaying = true; // a late live frame must not pass the final
  try {
    const attempt = await ctx.backend.streams.attempt(record.id, record.agentId);
    if (attempt !== null && attempt >= gate.attempt) await writeTail(ctx, conn, record, gate, attempt);
  } catch (err) {
    ctx.log.warn({ err, event_id: record.id, conn: conn.id }, 'could not read the stream of a resent event before its final; sending the final');
  }
  closeGate(ctx, conn.id, record.id);
  if (!conn.hasSentFinal(record.id)) conn.sendFinal(record.id, final);
}

/**
 * The recorded tokens of the attempt that the gate says the connection was not written, up to
 * the attempt's `sent` tokens when the final says how many, written as a refill.
 */
async function writeTail(
  ctx: RelayContext,
  conn: Connection,
  event: { id: string; agentId: string },
  gate: StreamGate,
  attempt: number,
  sent = Infinity,
): Promise<void> {
  const after = gate.attempt === attempt ? gate.seq : -1;
  const tail = (await ctx.backend.streams.read(event.id, event.agentId, attempt, after)).slice(0, sent - after - 1);
  refill(ctx, conn, event, tail, after + 1, attempt);
}

export async function resumeEvent(ctx: RelayContext, conn: Connection, frame: ResumeFrame): Promise<void> {
  const { events, streams } = ctx.backend;
  const record = await events.get(frame.event_id);
  // Another app's event is answered exactly like a forgotten one: its existence is not revealed.
  if (!record || record.appId !== conn.principal.id) {
    throw new RelayError(ErrorCode.UNKNOWN_EVENT, 'No event of this app with that id', frame.event_id);
  }
  const gate: StreamGate = { replaying: true, held: [], attempt: 0, seq: -1 };
  let gates = ctx.gates.get(conn.id);
  if (!gates) ctx.gates.set(conn.id, (gates = new Map()));
  gates.set(record.id, gate);
  try {
    if (!record.finished) await pointAt(ctx, record, conn.id);
    // An event never delivered has no stream yet: its first attempt is still to come.
    const attempt = (await streams.attempt(record.id, record.agentId)) ?? 1;
    const after = frame.attempt === undefined || frame.attempt === attempt ? (frame.after_seq ?? -1) : -1;
    const tokens = await streams.read(record.id, record.agentId, attempt, after);
    if (!ctx.local.has(conn.id)) return;
    conn.send(resumedFrame(record.id, attempt, after + 1, frame.ref), 'control');
    sendRecorded(conn, record, tokens, after + 1, attempt);
    gate.attempt = attempt;
    gate.seq = after + tokens.length;
    gate.replaying = false;
    for (const live of gate.held.splice(0)) {
      if (passGate(gate, live.text, live)) conn.send(live.text, 'control');
    }
  } catch (err) {
    closeGate(ctx, conn.id, record.id);
    throw err;
  }
  // The final may have been decided before the event was pointed here, and gone elsewhere. Not
  // again to a socket that was written it (from the outbox, as it opened): as for a resend.
  if (gate.final === undefined) {
    const final = (await events.get(record.id))?.final;
    // none yet; or it came meanwhile, through the open gate, and is written or being written
    if (final === undefined || gate.final !== undefined || gateOf(ctx, conn.id, record.id) !== gate) return;
    if (conn.hasSentFinal(record.id)) return closeGate(ctx, conn.id, record.id);
    gate.final = final;
  }
  await endStream(ctx, conn, record.id, gate);
}

/**
 * Points the event's tokens and final at this connection, and resolves once the node holding
 * the agent's socket has switched and flushed what it recorded before: every token it relays
 * from then on comes here, and every earlier one can be read. A holder that does not answer
 * within a node TTL is dead or cut off, or did not hear: if it goes on, the tokens it sends
 * elsewhere reach this connection from the record, ahead of the final (endStream).
 */
async function pointAt(ctx: RelayContext, record: EventRecord, connId: string): Promise<void> {
  if (record.appConnId !== connId) await ctx.backend.events.setAppConnection(record.id, connId);
  if (followApp(ctx, record.id, connId)) return ctx.backend.streams.flushed();
  const agentConn = await ctx.backend.queue.holder(record.agentId, record.id);
  if (agentConn === null) return;
  const node = nodeOfConnection(agentConn);
  if (node === ctx.nodeId) return;
  const key = `${connId} ${record.id}`;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, ctx.limits.nodeTtlMs);
    function done() {
      clearTimeout(timer);
      ctx.switches.delete(key);
      resolve();
    }
    ctx.switches.set(key, done);
    ctx.backend.bus.publish(node, { kind: 'app-moved', eventId: record.id, appConnId: connId, ack: true });
  });
}

/** The holder of an event switched its tokens to `connId` (pointAt's wait ends). */
export function switched(ctx: RelayContext, connId: string, eventId: string): void {
  ctx.switches.get(`${connId} ${eventId}`)?.();
}
