import { ErrorCode, type ResumeFrame } from '@relay/protocol';
import { nodeOfConnection } from '../ids';
import type { EventRecord } from '../ports';
import type { Connection } from './connection';
import type { RelayContext } from './context';
import { followApp } from './lifecycle';
import { appTokenFrame, resumedFrame } from './outbound';
import { RelayError } from './relay-error';

// An app's `resume`: the recorded tokens of an event's current attempt, then its live ones, then
// its final, each once and in order, on this connection.
//
// The hard part is the seam between replay and live. The event's tokens are first pointed at
// this connection, and the replay is read only once the node holding the agent's socket has
// switched and written what it recorded before switching. Live tokens reaching this connection
// meanwhile wait behind a gate (as does the final); once the replay is written, those the replay
// already carried are dropped, and the rest go out. The gate then stays open as a filter until
// the final, so a live token that the replay overtook is still dropped, not written twice.

/** Where an event's stream stands on one app connection of this node, from its `resume`. */
export interface ResumeGate {
  replaying: boolean;
  /** Live tokens (and the final) held back while the replay is read and written. */
  held: Array<{ text: string; attempt: number; seq: number }>;
  final?: string;
  /** The last token written to the app: later live ones must come after it. */
  attempt: number;
  seq: number;
}

/** A token's place in its event's stream. */
export interface TokenAt {
  attempt: number;
  seq: number;
}

export function gateOf(ctx: RelayContext, connId: string, eventId: string): ResumeGate | undefined {
  return ctx.gates.get(connId)?.get(eventId);
}

/** Whether a live token may be written to the connection now; a held one is kept in the gate. */
export function passGate(gate: ResumeGate, text: string, at: TokenAt): boolean {
  if (gate.replaying) {
    gate.held.push({ text, ...at });
    return false;
  }
  if (at.attempt < gate.attempt || (at.attempt === gate.attempt && at.seq <= gate.seq)) return false;
  gate.attempt = at.attempt;
  gate.seq = at.seq;
  return true;
}

/** The event's final is going to the connection: after it, nothing of the event is. */
export function closeGate(ctx: RelayContext, connId: string, eventId: string): void {
  const gates = ctx.gates.get(connId);
  gates?.delete(eventId);
  if (gates?.size === 0) ctx.gates.delete(connId);
}

export async function resumeEvent(ctx: RelayContext, conn: Connection, frame: ResumeFrame): Promise<void> {
  const { events, streams } = ctx.backend;
  const record = await events.get(frame.event_id);
  // Another app's event is answered exactly like a forgotten one: its existence is not revealed.
  if (!record || record.appId !== conn.principal.id) {
    throw new RelayError(ErrorCode.UNKNOWN_EVENT, 'No event of this app with that id', frame.event_id);
  }
  const gate: ResumeGate = { replaying: true, held: [], attempt: 0, seq: -1 };
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
    // as control frames: a replay dropped for backpressure would be a gap the app cannot see
    tokens.forEach((token, i) => conn.send(appTokenFrame(record, token, after + 1 + i, attempt), 'control'));
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
  const final = gate.final ?? (await events.get(record.id))?.final;
  if (final === undefined) return;
  closeGate(ctx, conn.id, record.id);
  if (gate.final !== undefined || !conn.hasSentFinal(record.id)) conn.sendFinal(record.id, final);
}

/**
 * Points the event's tokens and final at this connection, and resolves once the node holding
 * the agent's socket has switched and flushed what it recorded before: every token it relays
 * from then on comes here, and every earlier one can be read. A holder that does not answer
 * within a node TTL is dead or cut off: its attempt is lost anyway and will be redelivered.
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
    ctx.backend.bus.publish(node, { kind: 'app-moved', eventId: record.id, appConnId: connId, ack: true }).catch(done);
  });
}

/** The holder of an event switched its tokens to `connId` (pointAt's wait ends). */
export function switched(ctx: RelayContext, connId: string, eventId: string): void {
  ctx.switches.get(`${connId} ${eventId}`)?.();
}
