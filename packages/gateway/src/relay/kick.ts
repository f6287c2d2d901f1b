import { CloseCode, type Role } from '@relay/protocol';
import type { BusMessage } from '../ports';
import type { RelayContext } from './context';

/** How long a node remembers a kicked token, for sockets whose upgrade was under way meanwhile. */
export const KICK_MEMORY_MS = 60_000;

/**
 * Closes every socket that uses one of these tokens, on every live node, with 1008. Each node
 * also remembers the tokens for a while (see `createKicks`).
 */
export async function kickTokens(ctx: RelayContext, tokenIds: string[], reason: string): Promise<void> {
  if (tokenIds.length === 0) return;
  const message: BusMessage = { kind: 'kick', tokenIds, code: CloseCode.POLICY, reason };
  const nodes = new Set([ctx.nodeId, ...(await ctx.backend.presence.nodes())]);
  for (const node of nodes) ctx.backend.bus.publish(node, message);
}

/** A rotated token's grace is over: it stops working now, on every node. */
export async function expireToken(ctx: RelayContext, role: Role, principalId: string, tokenId: string): Promise<void> {
  const removed = await ctx.backend.registry.revokeToken(role, principalId, tokenId);
  if (removed) ctx.log.info({ role, [`${role}_id`]: principalId, token_id: tokenId }, 'rotated token expired');
  await kickTokens(ctx, [tokenId], 'Token expired');
}

export interface Kicks {
  /** A kick message reached this node: close its sockets using those tokens. */
  received(message: Extract<BusMessage, { kind: 'kick' }>): void;
  /**
   * Whether a socket opening with this token must be closed: it was admitted just before its
   * token was removed, and its upgrade finished only after the kick arrived.
   */
  kicked(tokenId: string): boolean;
  stop(): void;
}

export function createKicks(ctx: RelayContext): Kicks {
  const until = new Map<string, number>();
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [id, at] of until) if (at <= now) until.delete(id);
  }, KICK_MEMORY_MS);
  sweep.unref();
  return {
    received(message) {
      const at = Date.now() + KICK_MEMORY_MS;
      for (const id of message.tokenIds) until.set(id, at);
      const ids = new Set(message.tokenIds);
      for (const conn of [...ctx.local.values()]) {
        if (!ids.has(conn.principal.tokenId)) continue;
        ctx.log.info({ conn: conn.id, role: conn.role, token_id: conn.principal.tokenId }, 'socket closed: token revoked');
        conn.close(message.code, message.reason);
      }
    },
    kicked(tokenId) {
      return (until.get(tokenId) ?? 0) > Date.now();
    },
    stop() {
      clearInterval(sweep);
    },
  };
}
