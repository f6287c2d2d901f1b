import {
  AGENT_SUBPROTOCOL,
  APP_SUBPROTOCOL,
  CloseCode,
  MAX_AGENT_FRAME_BYTES,
  MAX_APP_FRAME_BYTES,
  type Role,
} from '@relay/protocol';
import type { Logger } from 'pino';
import { newConnectionId } from '../ids';
import type { Admin } from '../admin/admin';
import type { Metrics } from '../relay/metrics';
import type { Relay } from '../relay/relay';
import { registerAdminRoutes } from './admin-routes';
import { registerAgentHttpRoutes } from './agent-http-routes';
import { registerDashboard } from './dashboard-files';
import { bearer, NOSNIFF, sendJson } from './http';
import { registerHttpApi } from './http-api';
import { SocketConnection, type BufferLimits, type SocketData } from './socket-connection';
import { uws, type HttpRequest, type HttpResponse, type TemplatedApp, type WebSocket, type us_listen_socket } from './uws';

export interface ServerOptions extends BufferLimits {
  host: string;
  port: number;
  nodeId: string;
  idleTimeoutS: number;
  /** RELAY_SSE_KEEPALIVE_MS: an idle SSE stream's keep-alive comment. */
  sseKeepaliveMs: number;
  relay: Relay;
  log: Logger;
  metrics: Metrics;
  /** With RELAY_ADMIN_TOKEN, the admin API and the Dashboard are served; without, both are 404. */
  admin?: {
    api: Admin;
    token: string;
    /** The built Dashboard (packages/dashboard/dist). */
    dashboardDir?: string;
  };
}

export interface RelayServer {
  /** Starts listening; resolves to the bound port (useful with port 0). */
  listen(): Promise<number>;
  /** Stops accepting new TCP connections; open sockets are the core's to close. */
  stopListening(): void;
}

const ENDPOINTS: Record<Role, { path: string; subprotocol: string; maxFrame: number }> = {
  app: { path: '/v1/ws/app', subprotocol: APP_SUBPROTOCOL, maxFrame: MAX_APP_FRAME_BYTES },
  agent: { path: '/v1/ws/agent', subprotocol: AGENT_SUBPROTOCOL, maxFrame: MAX_AGENT_FRAME_BYTES },
};

/**
 * uWS answers a frame over its maxPayloadLength by dropping the TCP connection with no close
 * frame: the client sees 1006, takes it for a network fault, reconnects and resends the same
 * frame. So uWS gets this multiple of the protocol limit as its hard cap, and frames between the
 * two are refused in `message` with a real 1009, which tells the client not to resend. Only
 * frames past the hard cap still end as 1006; memory per socket stays bounded by it.
 *
 * uWS v20.30 has no setting that sends 1009 instead: it checks the length in the frame header
 * (or of the fragments so far) before buffering, and its force-close path closes the TCP socket
 * without a close frame, reporting 1006 to our `close` handler (uNetworking/uWebSockets#1321:
 * 1006 is kept for closes the library makes itself). `closeOnBackpressureLimit` concerns
 * outgoing data only. A 1009 for any size would mean reading frames of any size, so the cap
 * stays, and the drop is counted and logged here, as the client cannot tell it from a fault.
 */
const HARD_FRAME_FACTOR = 4;

/** What uWS v20.30 gives our `close` handler for a frame over maxPayloadLength: 1006 (never sent on the wire) and this reason. */
const UWS_DROPPED = 1006;
const UWS_TOO_BIG_REASON = 'Received too big message';
/**
 * What uWS gives our `close` handler for a text frame that is not UTF-8. RFC 6455 wants 1007
 * there, but uWS checks text frames before any handler of ours runs and drops the connection
 * without a close frame (WebSocketContext.h, ERR_INVALID_TEXT), with no setting to do otherwise:
 * the client sees 1006. We can only count and log it.
 */
const UWS_INVALID_TEXT_REASON = 'Received invalid UTF-8';

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function createServer(options: ServerOptions): RelayServer {
  const { relay, log, metrics } = options;
  const app: TemplatedApp = uws.App();
  let listenSocket: us_listen_socket | undefined;

  for (const role of ['app', 'agent'] as const) {
    const endpoint = ENDPOINTS[role];
    app.ws<SocketData>(endpoint.path, {
      maxPayloadLength: endpoint.maxFrame * HARD_FRAME_FACTOR,
      idleTimeout: options.idleTimeoutS,
      sendPingsAutomatically: true,
      // Our own limits (SocketConnection) act first; uWS's must never silently drop a frame.
      maxBackpressure: options.maxBufferedBytes + MAX_AGENT_FRAME_BYTES * 4,
      closeOnBackpressureLimit: 1,
      upgrade: (res, req, context) => upgrade(role, res, req, context),
      open: guarded('open', (ws) => {
        const data = ws.getUserData();
        data.conn = new SocketConnection(ws, data, options, (conn) =>
          metrics.backpressureCloses.inc({ role: conn.role }),
        );
        relay.opened(data.conn);
      }),
      message: guarded('message', (ws, message: ArrayBuffer) => {
        const conn = ws.getUserData().conn as SocketConnection;
        if (message.byteLength > endpoint.maxFrame) {
          metrics.framesRejected.inc({ role, code: 'FRAME_TOO_LARGE' });
          conn.close(CloseCode.TOO_LARGE, `Frame over ${endpoint.maxFrame} bytes`);
          return;
        }
        let text: string;
        try {
          text = utf8.decode(message);
        } catch {
          text = ''; // not UTF-8: the core answers INVALID_JSON like any other unparsable frame
        }
        relay.received(conn, text);
      }),
      drain: guarded('drain', (ws) => ws.getUserData().conn?.drained()),
      close: guarded('close', (ws, code: number, reason: ArrayBuffer) => {
        const conn = ws.getUserData().conn;
        if (code === UWS_DROPPED && Buffer.from(reason).toString().startsWith(UWS_TOO_BIG_REASON)) {
          metrics.framesRejected.inc({ role, code: 'FRAME_TOO_LARGE' });
          log.info(
            { conn: ws.getUserData().connId, role, limit: endpoint.maxFrame * HARD_FRAME_FACTOR },
            'frame over the hard limit: connection dropped (the client sees 1006)',
          );
        }
        if (code === UWS_DROPPED && Buffer.from(reason).toString().startsWith(UWS_INVALID_TEXT_REASON)) {
          metrics.framesRejected.inc({ role, code: 'INVALID_UTF8' });
          log.info({ conn: ws.getUserData().connId, role }, 'text frame not UTF-8: connection dropped (the client sees 1006)');
        }
        if (conn) relay.closed(conn, conn.markClosed());
      }),
    });
  }

  /**
   * An exception escaping a uWS callback would take the whole node down with every socket on
   * it. A bug in handling one socket's frame must cost at most that socket (closed with 1011).
   */
  function guarded<A extends unknown[]>(
    name: string,
    handler: (ws: WebSocket<SocketData>, ...rest: A) => void,
  ): (ws: WebSocket<SocketData>, ...rest: A) => void {
    return (ws, ...rest) => {
      try {
        handler(ws, ...rest);
      } catch (err) {
        metrics.backgroundErrors.inc({ task: `socket_${name}` });
        log.error({ err, conn: ws.getUserData().connId }, `socket ${name} handler failed`);
        if (name === 'message') ws.getUserData().conn?.close(CloseCode.INTERNAL, 'Internal error');
      }
    };
  }

  function upgrade(role: Role, res: HttpResponse, req: HttpRequest, context: unknown): void {
    // The request object is only valid until the first await: read everything now.
    const token = bearer(req.getHeader('authorization')) ?? (new URLSearchParams(req.getQuery() ?? '').get('token') || undefined);
    const key = req.getHeader('sec-websocket-key');
    const offered = req.getHeader('sec-websocket-protocol');
    const extensions = req.getHeader('sec-websocket-extensions');
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    relay
      .admit(role, token)
      .then((admission) => {
        if (aborted) return;
        if (!admission.ok) {
          metrics.upgradesRejected.inc({ reason: admission.reason });
          res.cork(() => sendJson(res, admission.status, { error: { code: admission.reason, message: admission.message } }));
          return;
        }
        const wanted = ENDPOINTS[role].subprotocol;
        const selected = offered.split(',').some((p) => p.trim() === wanted) ? wanted : '';
        const data: SocketData = { role, principal: admission.principal, connId: newConnectionId(options.nodeId), since: Date.now() };
        // Not inside res.cork(): in uWS v20.30 an asynchronous upgrade made while corked can
        // close the new socket at once (1006) when cork() misreads the upgraded socket's state
        // (uNetworking/uWebSockets#1928, fixed upstream after v20.30). About 1 in 100 sockets
        // died that way whenever admission waited on Redis.
        res.upgrade(data, key, selected, extensions, context as never);
      })
      .catch((err: unknown) => {
        log.error({ err }, 'upgrade failed');
        metrics.upgradesRejected.inc({ reason: 'internal' });
        if (!aborted) res.cork(() => sendJson(res, 500, { error: { code: 'internal', message: 'Upgrade failed' } }));
      });
  }

  // A plain GET of a WebSocket endpoint (a browser, curl, a misconfigured proxy that drops the
  // Upgrade header) is not a wrong URL: say what is missing instead of 404. uWS hands only
  // non-upgrade requests on these paths to this handler.
  for (const endpoint of Object.values(ENDPOINTS)) {
    app.get(endpoint.path, (res) =>
      sendJson(res, 426, { error: { code: 'upgrade_required', message: 'This endpoint takes WebSocket upgrades only' } }, {
        upgrade: 'websocket',
      }),
    );
  }

  app.get('/healthz', (res) => sendJson(res, 200, { status: 'ok' }));
  app.get('/readyz', (res) => {
    const ready = relay.ready();
    sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready' });
  });
  app.get('/metrics', (res) => {
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    metrics.registry
      .metrics()
      .then((body) => {
        if (aborted) return;
        res.cork(() =>
          res
            .writeStatus('200 OK')
            .writeHeader('content-type', metrics.registry.contentType)
            .writeHeader('x-content-type-options', NOSNIFF)
            .end(body),
        );
      })
      .catch((err: unknown) => log.error({ err }, 'metrics failed'));
  });
  registerHttpApi(app, {
    nodeId: options.nodeId,
    relay,
    log,
    metrics,
    tokenDropBytes: options.tokenDropBytes,
    maxBufferedBytes: options.maxBufferedBytes,
    keepaliveMs: options.sseKeepaliveMs,
  });
  registerAgentHttpRoutes(app, { relay, log, metrics });
  if (options.admin) {
    registerAdminRoutes(app, { admin: options.admin.api, adminToken: options.admin.token, log, metrics });
    registerDashboard(app, options.admin.dashboardDir);
  } else {
    app.get('/dashboard/*', (res) =>
      sendJson(res, 404, { error: { code: 'not_found', message: 'The Dashboard is off on this node: set RELAY_ADMIN_TOKEN' } }),
    );
  }
  app.any('/*', (res) => sendJson(res, 404, { error: { code: 'not_found', message: 'No such route' } }));

  return {
    listen() {
      return new Promise((resolve, reject) => {
        app.listen(options.host, options.port, (socket) => {
          if (!socket) return reject(new Error(`cannot listen on ${options.host}:${options.port}`));
          listenSocket = socket;
          resolve(uws.us_socket_local_port(socket as never));
        });
      });
    },
    stopListening() {
      if (listenSocket) uws.us_listen_socket_close(listenSocket);
      listenSocket = undefined;
    },
  };
}
