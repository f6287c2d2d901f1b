import type { EventStatus, Role } from '@relay/protocol';
import { eventStatus } from './app-frames';
import type { Principal } from '../ports';
import type { Connection, UnflushedFinal } from './connection';
import type { RelayContext } from './context';
import { createFrameQueue } from './frame-queue';
import { createKicks } from './kick';
import { startLiveness, type Liveness } from './liveness';
import { agentFrame, appFrame, busMessage, undelivered } from './routing';
import { createSessions } from './sessions';
import { runTask } from './tasks';

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
  /** Ready to take traffic: not draining, and the backend can record events. */
  ready(): boolean;
  /** Stops admitting, closes every socket with 1001 and waits for the work they started. */
  drain(): Promise<void>;
}

/**
 * Starts the core on a context (see createContext): it subscribes to this node's bus channel
 * and the scheduler's due tasks, and starts the node's heartbeat. The admin operations are built
 * on the same context beside it (admin/admin.ts).
 */
export function createRelay(ctx: RelayContext): Relay {
  const { backend } = ctx;
  const queue = createFrameQueue(ctx);
  const kicks = createKicks(ctx);

  backend.scheduler.onDue((task) => runTask(ctx, task));
  backend.bus.onUndelivered((deadNode, message) => undelivered(ctx, deadNode, message));
  ctx.track('bus', backend.bus.subscribe(ctx.nodeId, (message) => busMessage(ctx, message, { liveness, kicks })));
  const liveness: Liveness = startLiveness(ctx, ctx.limits.nodeTtlMs);

  return {
    ...createSessions(ctx, { queue, kicks, liveness }),
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
