import type { EventStatus, Role } from '@relay/protocol';
import { agentPosted, type AgentPostAnswer } from '../http-agents/agent-posts';
import type { HttpAgentSettings } from '../http-agents/connection';
import { startWebhookAgents } from '../http-agents/webhook-agents';
import type { LaterFrames, Principal } from '../ports';
import { eventStatus } from './app-frames';
import type { Connection, UnflushedFinal } from './connection';
import { beatInterval, type RelayContext } from './context';
import { createFrameQueue } from './frame-queue';
import { createKicks } from './kick';
import { startLiveness, type Liveness } from './liveness';
import { agentFrame, appFrame, busMessage, createRedeliveries, undelivered } from './routing';
import { createSessions } from './sessions';
import { runTask } from './tasks';

export type { AgentPostAnswer };

// The core of a node, as wiring: each rule lives in the file named for it.
//
//   sessions.ts      admission, a socket's open and close, the node's drain
//   routing.ts       which rule each inbound frame and bus message goes to
//   frame-queue.ts   one socket's frames in order (an agent's per event), and the flood guard
//   frame-errors.ts  a failed frame's error frame
//   app-frames.ts    an app's event, cancel and discover
//   resume.ts        an app's resume: the recorded tokens, then the live ones, then the final
//   agent-frames.ts  an agent's tokens and reply
//   lifecycle.ts     an event's milestones (accepted, delivered, tokens, ended) and its end
//   delivery.ts      what a queue operation assigned (to its agent) or found expired (ended)
//   send-to.ts       a frame to a connection, here or on its node
//   finals.ts        final frames: to the app's connection, another one, or the outbox
//   tasks.ts         scheduled tasks: expiry, rate-limit release, the queue's retry, token expiry, webhooks
//   webhooks.ts      an app's finals POSTed to its webhook, tried again until a 2xx
//   liveness.ts      this node's heartbeat, bus probe and reaping of dead nodes
//   kick.ts          closing the sockets of revoked tokens on every node
//   ../http-agents/  agents over HTTP: one connection per agent whose socket is its webhook

export type Admission =
  | { ok: true; principal: Principal }
  | { ok: false; status: 401 | 429 | 503; reason: string; message: string };

/**
 * The core as the transport sees it: admission at the upgrade, then socket lifecycle events;
 * and for the HTTP API, the same frames on connections of one request each (`channel: 'http'`).
 */
export interface Relay {
  admit(role: Role, token: string | undefined): Promise<Admission>;
  /** Who a token is, for an HTTP request: admission without a connection's place. */
  authenticate(role: Role, token: string | undefined): Promise<Admission>;
  opened(conn: Connection): void;
  received(conn: Connection, text: string): void;
  closed(conn: Connection, unflushed: UnflushedFinal[]): void;
  /**
   * An HTTP request (or SSE stream) starts: its frames are handled as a socket's, and frames for
   * it reach it here, but it holds no place in the presence lists (so no final of another event
   * comes to it, and no outbox is emptied into it).
   */
  requestStarted(conn: Connection): void;
  /** One frame of a request; resolves once its work is done (its answer, if any, written). */
  request(conn: Connection, text: string): Promise<void>;
  /** The request or stream is over; `unflushed` as for `closed`. */
  requestEnded(conn: Connection, unflushed: UnflushedFinal[]): void;
  /** Where one of this app's events stands; undefined for an unknown one or another app's. */
  eventStatus(appId: string, eventId: string): Promise<EventStatus | undefined>;
  /**
   * An HTTP agent POSTed tokens or its reply, with its `rla_` token, for an event it answered
   * with 202 (http-agents/agent-posts.ts). Rejects when the backend cannot be reached.
   */
  agentPosted(token: string | undefined, eventId: string, posted: LaterFrames): Promise<AgentPostAnswer>;
  /** Ready to take traffic: not draining, and the backend can record events. */
  ready(): boolean;
  /** Stops admitting, closes every socket with 1001 and waits for the work they started. */
  drain(): Promise<void>;
}

/** Agents over HTTP: the defaults of RELAY_AGENT_WEBHOOK_TIMEOUT_MS and RELAY_AGENT_WEBHOOK_BACKOFF_MS. */
export const DEFAULT_AGENT_WEBHOOKS: HttpAgentSettings = { requestTimeoutMs: 10_000, backoffBaseMs: 1_000 };

/**
 * Starts the core on a context (see createContext): it subscribes to this node's bus channel
 * and the scheduler's due tasks, and starts the node's heartbeat. The admin operations are built
 * on the same context beside it (admin/admin.ts).
 */
export function createRelay(ctx: RelayContext, agentWebhooks: HttpAgentSettings = DEFAULT_AGENT_WEBHOOKS): Relay {
  const { backend } = ctx;
  const queue = createFrameQueue(ctx);
  const kicks = createKicks(ctx);

  backend.scheduler.onDue((task) => runTask(ctx, task));
  const redeliveries = createRedeliveries(ctx);
  backend.bus.onUndelivered((deadNode, message) => undelivered(ctx, deadNode, message, redeliveries));
  ctx.track('bus', backend.bus.subscribe(ctx.nodeId, (message) => busMessage(ctx, message, { liveness, kicks, webhooks })));
  const liveness: Liveness = startLiveness(ctx, ctx.limits.nodeTtlMs);
  // Checked as often as liveness beats: a dead holder's HTTP agents are claimed again right after its reaping.
  const webhooks = startWebhookAgents(ctx, agentWebhooks, beatInterval(ctx.limits.nodeTtlMs));
  const sessions = createSessions(ctx, { queue, kicks, liveness });

  return {
    ...sessions,
    async drain() {
      webhooks.stop();
      await sessions.drain();
      redeliveries.stop();
    },
    agentPosted: (token, eventId, posted) => agentPosted(ctx, webhooks, token, eventId, posted),
    received(conn, text) {
      if (conn.role === 'app') appFrame(ctx, queue, conn, text);
      else agentFrame(ctx, queue, conn, text);
    },
    async request(conn, text) {
      if (conn.role === 'app') appFrame(ctx, queue, conn, text);
      else agentFrame(ctx, queue, conn, text);
      await queue.closed(conn.id);
    },
    eventStatus: (appId, eventId) => eventStatus(ctx, appId, eventId),
  };
}
