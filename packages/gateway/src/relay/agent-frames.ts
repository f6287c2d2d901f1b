import { ErrorCode, type AgentReplyFrame, type AgentTokenFrame } from '@relay/protocol';
import type { Connection } from './connection';
import type { RelayContext } from './context';
import { deliverFinal } from './finals';
import { eventEnded, replyTimer, settle, tokenRelayed } from './lifecycle';
import { appReplyFrame, appTokenFrame, errorFrame } from './outbound';
import { cancelToAgent, tokenToApp } from './send-to';

// What an agent socket sends about the events it holds. Each frame is encoded before anything
// changes, so a frame that cannot be encoded leaves the event exactly as it was: still this
// connection's, with its reply timer running, so it still ends with one final.

/** The in-flight entry for a frame of this agent socket, or an UNKNOWN_EVENT answer. */
function heldBy(ctx: RelayContext, conn: Connection, eventId: string, ref: string | undefined) {
  const held = ctx.inFlight.get(eventId);
  if (held && held.connId === conn.id && !held.answered) return held;
  ctx.metrics.framesRejected.inc({ role: 'agent', code: ErrorCode.UNKNOWN_EVENT });
  conn.send(
    errorFrame(ErrorCode.UNKNOWN_EVENT, 'This connection holds no unanswered event with that id', { event_id: eventId, ref }),
    'control',
  );
  return undefined;
}

/** Relays one token to the app connection that sent the event; `tokenJson` as parseAgentFrame gave it. */
export function relayToken(ctx: RelayContext, conn: Connection, frame: AgentTokenFrame, tokenJson?: string): void {
  const held = heldBy(ctx, conn, frame.event_id, frame.ref);
  if (!held) return;
  const at = { attempt: held.attempt, seq: held.tokens };
  const text = appTokenFrame(held.tokenHead, frame.token, at.seq, at.attempt, tokenJson);
  tokenRelayed(ctx, held, frame.token, at.seq);
  held.tokens += 1;
  held.timer.refresh(); // the reply timeout counts silence, not the length of the answer
  tokenToApp(ctx, held.event.appConnId, held.event.id, text, at);
}

/** The agent's final answer: ends the event once and sends the reply to the app. */
export async function acceptReply(
  ctx: RelayContext,
  conn: Connection,
  frame: AgentReplyFrame,
  echoedPayloadRaw: string | undefined,
): Promise<void> {
  const held = heldBy(ctx, conn, frame.event_id, frame.ref);
  if (!held) return;
  const text = appReplyFrame(held.event, frame, echoedPayloadRaw, held.tokens, Date.now());
  held.answered = true;
  clearTimeout(held.timer);
  let settled: Awaited<ReturnType<typeof settle>>;
  try {
    // If the event was meanwhile handed to another connection, that one is told to stop.
    settled = await settle(ctx, held.event, text, async (connId) => {
      if (connId !== conn.id) await cancelToAgent(ctx, connId, held.event.id);
    });
  } catch (err) {
    // The store could not take the reply (Redis is down). The agent is told RELAY_UNAVAILABLE
    // and may send the reply again, so the event stays this connection's, with its reply
    // timeout running again: otherwise it would wait for ever for a reply nobody could send.
    if (ctx.inFlight.get(held.event.id) === held) {
      held.answered = false;
      held.timer = replyTimer(ctx, held.event);
    }
    throw err;
  }
  if (!settled) {
    // cancelled or timed out while the reply was on its way
    conn.send(errorFrame(ErrorCode.UNKNOWN_EVENT, 'The event had already ended', { event_id: frame.event_id, ref: frame.ref }), 'control');
    return;
  }
  const { event, app, origin } = settled;
  eventEnded(ctx, event, { reply: frame.finish_reason });
  await deliverFinal(ctx, event, text, { stream: { agentId: event.agentId, attempt: held.attempt, tokens: held.tokens }, app, origin });
}
