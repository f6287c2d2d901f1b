import type { LaterFrames, Principal } from '../ports';
import type { RelayContext } from '../relay/context';
import { WEBHOOK_TOKEN_ID, type WebhookAgents } from './webhook-agents';

/**
 * An HTTP agent's later POST, on whichever node it reached: handled here if this node holds the
 * agent's HTTP connection, else sent over the bus to the node that does (messages from one node
 * to another keep their order, so tokens POSTed before the reply arrive before it). UNKNOWN_EVENT
 * when the event is not an unanswered one held by this agent's HTTP connection: never its,
 * another agent's, ended, cancelled, or held by one of its sockets.
 */
export async function agentPosted(
  ctx: RelayContext,
  webhooks: WebhookAgents,
  token: string | undefined,
  eventId: string,
  posted: LaterFrames,
): Promise<AgentPostAnswer> {
  const agent = token === undefined ? null : await ctx.backend.registry.authenticate('agent', token);
  if (!agent) return 'unauthorized';
  return (await route(ctx, webhooks, agent, eventId, posted)) ? 'ok' : 'unknown_event';
}

/** How a later POST went: handed on, a bad or wrong-role token (401), or UNKNOWN_EVENT (404). */
export type AgentPostAnswer = 'ok' | 'unauthorized' | 'unknown_event';

async function route(ctx: RelayContext, webhooks: WebhookAgents, agent: Principal, eventId: string, posted: LaterFrames): Promise<boolean> {
  const local = webhooks.local(agent.id);
  if (local && ctx.inFlight.get(eventId)?.connId === local.id) return laterHere(ctx, webhooks, agent.id, eventId, posted);
  const event = await ctx.backend.events.get(eventId);
  if (!event || event.finished || event.agentId !== agent.id) return false;
  const holder = await ctx.backend.queue.holder(agent.id, eventId);
  const info = holder === null ? null : await ctx.backend.presence.get(holder);
  if (!info || info.principalId !== agent.id || info.tokenId !== WEBHOOK_TOKEN_ID) return false;
  if (info.nodeId === ctx.nodeId) return laterHere(ctx, webhooks, agent.id, eventId, posted);
  ctx.backend.bus.publish(info.nodeId, { kind: 'agent-later', agentId: agent.id, eventId, posted });
  return true;
}

/** The frames of a later POST, for an event this node's HTTP connection of the agent holds. */
export async function laterHere(ctx: RelayContext, webhooks: WebhookAgents, agentId: string, eventId: string, posted: LaterFrames): Promise<boolean> {
  const conn = webhooks.local(agentId);
  if (!conn || ctx.inFlight.get(eventId)?.connId !== conn.id) return false;
  if (posted.kind === 'reply') return conn.later(posted.frame, posted.payloadRaw);
  for (const frame of posted.frames) if (!(await conn.later(frame, undefined))) return false;
  return true;
}
