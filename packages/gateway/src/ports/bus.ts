import type { EventRecord } from './event-store';
import type { Assignment } from './delivery-queue';
import type { AgentReplyFrame, AgentTokenFrame } from '@relay/protocol';

/** What an HTTP agent that answered 202 POSTs later: its tokens, or its reply. */
export type LaterFrames =
  | { kind: 'tokens'; frames: AgentTokenFrame[] }
  | { kind: 'reply'; frame: AgentReplyFrame; payloadRaw: string | undefined };

/** How many tokens an event's answering attempt sent, and the agent whose stream records them. */
export interface StreamEnd {
  agentId: string;
  attempt: number;
  tokens: number;
}

/** What one node asks of another about sockets it holds. */
export type BusMessage =
  /**
   * `tries`: how many times this node's bus has already found nobody to hear it (routing.ts).
   * `event` null: it ended before it could be sent; the connection's node passes its place.
   */
  | { kind: 'deliver'; assignment: Assignment; event: EventRecord | null; tries?: number }
  | { kind: 'app-token'; connId: string; eventId: string; text: string; attempt: number; seq: number }
  /**
   * `avoid`: nodes found gone while routing this final, so it is not sent there again. `stream`:
   * the attempt's tokens, for the connection the event streams to (relay/resume.ts StreamEnd).
   * `paced`: a rerouted final, which the connection takes through the outbox, paced by its reads
   * (relay/finals.ts finalTo).
   */
  | { kind: 'app-final'; connId: string; appId: string; eventId: string; text: string; avoid?: string[]; stream?: StreamEnd; paced?: boolean }
  | { kind: 'agent-cancel'; connId: string; eventId: string }
  /**
   * The app resent the event from another connection, or resumed it there: its tokens go there
   * from now on. `ack`: once switched, with what was recorded before written, say so (`app-switched`).
   */
  | { kind: 'app-moved'; eventId: string; appConnId: string; ack?: true }
  /** Sent to the app connection's node: the event's holder now sends its tokens to `connId`. */
  | { kind: 'app-switched'; connId: string; eventId: string }
  /** An HTTP agent POSTed these for an event the receiving node's HTTP connection of it holds. */
  | { kind: 'agent-later'; agentId: string; eventId: string; posted: LaterFrames }
  /** A node's message to itself, proving its subscription still receives. */
  | { kind: 'probe'; sentAt: number }
  /** These tokens were revoked (or expired, or their owner deleted): close their sockets with `code`. */
  | { kind: 'kick'; tokenIds: string[]; code: number; reason: string };

/**
 * Frames to a given node. Messages from one node to another arrive in the order they were
 * published (tokens rely on it); a message for a node that is gone is dropped.
 */
export interface Bus {
  /**
   * Queues `message` for its node and returns: it never fails. One that cannot reach its node
   * goes to the undelivered handler, so no caller waits on Redis to hand a frame on.
   */
  publish(nodeId: string, message: BusMessage): void;
  /** Receives every message published to this node. */
  subscribe(nodeId: string, handler: (message: BusMessage) => void): Promise<void>;
  /**
   * Receives the messages that reached no node: theirs is gone (killed, or cut off from the
   * bus), though it may count as alive until its liveness lapses. The sender routes them again.
   */
  onUndelivered(handler: (nodeId: string, message: BusMessage) => void): void;
  /** Drops this node's subscription and makes it again (its probe stopped coming back). */
  resubscribe(): Promise<void>;
  close(): Promise<void>;
}
