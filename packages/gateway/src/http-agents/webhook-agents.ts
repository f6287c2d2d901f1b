import { newConnectionId } from '../ids';
import type { AgentRecord } from '../ports';
import type { RelayContext } from '../relay/context';
import { dispatched } from '../relay/delivery';
import { forgetInFlight } from '../relay/lifecycle';
import { createHttpAgentConnection, type HttpAgentConnection, type HttpAgentSettings } from './connection';

/** `ConnectionInfo.tokenId` of an HTTP agent's connection: what tells it from a socket. */
export const WEBHOOK_TOKEN_ID = 'webhook';

export interface WebhookAgents {
  /** This node's HTTP agent connection of that agent, if this node holds it. */
  local(agentId: string): HttpAgentConnection | undefined;
  stop(): void;
}

/**
 * Keeps each agent with a `webhook_url` attached to its delivery queue as one HTTP agent
 * connection cluster-wide, held by one node, while no socket of the agent is attached:
 * - every check, a node claims the connection of an agent that has no connection at all (one
 *   presence place, taken atomically: of nodes racing, one gets it);
 * - the holder lets it go as soon as a socket of the agent is attached (sockets first), or the
 *   agent loses its webhook; its events go back to the queue and on to the sockets;
 * - a holder that dies is reaped like any node: its connection's events are handed back
 *   (attempt + 1), and the next check claims the connection again elsewhere.
 */
export function startWebhookAgents(ctx: RelayContext, settings: HttpAgentSettings, intervalMs: number): WebhookAgents {
  const { backend, nodeId } = ctx;
  const held = new Map<string, HttpAgentConnection>();
  let stopped = false;

  const release = (conn: HttpAgentConnection) => {
    held.delete(conn.principal.id);
    ctx.local.delete(conn.id);
    ctx.log.info({ conn: conn.id, agent_id: conn.principal.id }, 'HTTP agent connection released');
    ctx.track(
      'close',
      (async () => {
        for (const [eventId, h] of ctx.inFlight) if (h.connId === conn.id) forgetInFlight(ctx, eventId);
        await ctx.owed.run({ step: 'presence', conn: conn.id }, () => backend.presence.remove(conn.id));
        await ctx.owed.run({ step: 'detach', conn: conn.id }, async () => {
          await dispatched(ctx, await backend.queue.detach(conn.principal.id, conn.id));
        });
      })(),
    );
  };

  const claim = async (agent: AgentRecord & { webhookUrl: string; webhookSecret: string }) => {
    const connId = newConnectionId(nodeId);
    const info = { connId, nodeId, role: 'agent' as const, principalId: agent.id, tokenId: WEBHOOK_TOKEN_ID, since: Date.now() };
    // One place, and only while the agent has none: no socket, no other node's HTTP connection.
    if (!(await backend.presence.add(info, 1))) return;
    const conn = createHttpAgentConnection(ctx, {
      connId,
      agentId: agent.id,
      target: { url: agent.webhookUrl, secret: agent.webhookSecret },
      settings,
      onClose: release,
    });
    held.set(agent.id, conn);
    ctx.local.set(connId, conn);
    ctx.log.info({ conn: connId, agent_id: agent.id }, 'HTTP agent connection attached');
    let attached;
    try {
      attached = await backend.queue.attach(agent.id, { connId, nodeId, maxInFlight: agent.maxInFlight });
    } catch (err) {
      conn.close(1011, 'not attached'); // gives its place back, so a later check claims it again
      throw err;
    }
    await dispatched(ctx, attached);
  };

  const check = async () => {
    if (stopped || !backend.ready()) return;
    const agents = await backend.registry.agents();
    const withWebhook = new Map(agents.filter(hasWebhook).map((a) => [a.id, a]));
    for (const [agentId, conn] of held) {
      const agent = withWebhook.get(agentId);
      // Sockets first: the agent's own connections beside this one take its events.
      if (!agent || (await backend.presence.count('agent', agentId)) > 1) conn.close(1000, 'released');
      else conn.target = { url: agent.webhookUrl, secret: agent.webhookSecret };
    }
    for (const agent of withWebhook.values()) if (!held.has(agent.id) && !stopped) await claim(agent);
  };

  const timer = setInterval(() => ctx.track('agent-webhook', check()), intervalMs);
  ctx.track('agent-webhook', check());
  return {
    local: (agentId) => held.get(agentId),
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}

function hasWebhook(agent: AgentRecord): agent is AgentRecord & { webhookUrl: string; webhookSecret: string } {
  return typeof agent.webhookUrl === 'string' && agent.webhookUrl !== '' && typeof agent.webhookSecret === 'string' && agent.webhookSecret !== '';
}
