import type { Role } from '@relay/protocol';

export interface ConnectionInfo {
  connId: string;
  nodeId: string;
  role: Role;
  principalId: string;
  tokenId: string;
  since: number;
}

/**
 * Who is connected where, cluster-wide. An entry lives from `add` until `remove`, or until its
 * node stops proving it is alive; entries of dead nodes are never returned.
 */
export interface Presence {
  add(info: ConnectionInfo): Promise<void>;
  remove(connId: string): Promise<void>;
  get(connId: string): Promise<ConnectionInfo | null>;
  /** Live connections of one app or agent, oldest first. */
  list(role: Role, principalId: string): Promise<ConnectionInfo[]>;
  /** Every live connection in the cluster, oldest first. */
  all(): Promise<ConnectionInfo[]>;
  /** Nodes alive now (those that proved it within their TTL), for messages to every node. */
  nodes(): Promise<string[]>;
  /** Which of these agents have at least one live connection. */
  onlineAgents(agentIds: string[]): Promise<Set<string>>;
  /**
   * Proves this node alive for `ttlMs`. Resolves false when the node had already been given up
   * for dead (its entries may have been reaped): it must then drop its sockets, so their
   * clients reconnect and register again.
   */
  heartbeat(nodeId: string, ttlMs: number): Promise<boolean>;
  /**
   * Removes the connections of nodes whose liveness lapsed and returns them. Each dead node's
   * connections are returned to exactly one caller, cluster-wide, which hands back their events.
   */
  reapDeadNodes(selfNodeId: string): Promise<ConnectionInfo[]>;
}
