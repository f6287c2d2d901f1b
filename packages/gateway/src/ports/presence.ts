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
 * node stops proving it is alive; entries of dead nodes are never returned (a backend may trust
 * a node it found alive for a moment longer: the Redis one for a second).
 */
export interface Presence {
  /**
   * Adds the entry unless its app or agent already has `limit` connections, and says whether it
   * did. Check and add are one step cluster-wide: of connections racing for the last place, one
   * gets it. Adding an entry already there changes nothing and resolves true.
   */
  add(info: ConnectionInfo, limit: number): Promise<boolean>;
  /** Removing an entry that is not there (never added, or already reaped) changes nothing. */
  remove(connId: string): Promise<void>;
  /**
   * How many places one app or agent holds, in constant time whatever that number: its entries,
   * counting those of a node that died until that node is reaped (so a place is never handed
   * out twice while the dead node's sockets might still be open).
   */
  count(role: Role, principalId: string): Promise<number>;
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
   * for dead (another node claimed it to reap its entries): it must then drop its sockets, so
   * their clients reconnect and register again. A liveness that merely lapsed, with nobody
   * reaping it (Redis was unreachable for everyone), resolves true: the entries are intact.
   */
  heartbeat(nodeId: string, ttlMs: number): Promise<boolean>;
  /**
   * Removes the connections of nodes whose liveness lapsed and returns them. Each dead node's
   * connections go to exactly one caller, cluster-wide: `handBack` runs for each before its entry
   * is removed, so one whose hand-back failed (it throws on) is found again by a later reap.
   */
  reapDeadNodes(selfNodeId: string, handBack: (info: ConnectionInfo) => Promise<void>): Promise<ConnectionInfo[]>;
}
