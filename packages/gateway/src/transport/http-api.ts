import { ErrorCode, MAX_APP_FRAME_BYTES, parseLastEventId, type Role } from '@relay/protocol';
import type { Logger } from 'pino';
import { newRequestId } from '../ids';
import type { Principal } from '../ports';
import type { Connection } from '../relay/connection';
import type { Metrics } from '../relay/metrics';
import { errorFrame } from '../relay/outbound';
import type { Relay } from '../relay/relay';
import { bearer, readBody, sendJson } from './http';
import { sendJsonText, statusOfError } from './http-answer';
import { SseStream, type SseOptions } from './sse';
import type { HttpRequest, HttpResponse, TemplatedApp } from './uws';

// The HTTP API for apps (PROTOCOL.md, "HTTP API"): the same relay as the app WebSocket. Each
// request is a Connection of role app whose frames go through the same routing, limits, rate
// limiter and metrics as a socket's; a plain request's first frame is its answer, and an SSE
// stream (sse.ts) takes the frames of its one event.
//
// Where a final goes for an event sent by a plain POST: the request is over by then, so the
// final goes where a final for a closed socket goes: another connection of the app, else the
// app's outbox (and GET /v1/events/:id reads it any time within retention).

export interface HttpApiOptions extends SseOptions {
  nodeId: string;
  relay: Relay;
  log: Logger;
  metrics: Metrics;
}

/** Each route's name in metrics (no ids in labels). */
type Route = 'send' | 'send_stream' | 'status' | 'stream' | 'cancel' | 'agents';

/** What a request carries, read in uWS's callback (the request object is gone after it). */
interface Incoming {
  token: string | undefined;
  param: string;
  header: (name: string) => string;
  query: URLSearchParams;
  /** The client went away: the response may no longer be used. */
  aborted: () => boolean;
}

export function registerHttpApi(app: TemplatedApp, options: HttpApiOptions): void {
  const { relay, log, metrics, nodeId } = options;
  const counted = (route: Route, status: number) => metrics.httpRequests.inc({ route, status: String(status) });

  /**
   * Reads the request, authenticates its app token, then runs `handle`; a wrong, missing or
   * agent token is 401 before anything else. `body` starts reading at once (uWS drops a body
   * with no reader).
   */
  function route(
    routeOf: (req: HttpRequest) => Route,
    handle: (res: HttpResponse, principal: Principal, incoming: Incoming, route: Route, body: Promise<Buffer | null>) => Promise<void>,
    { readsBody = false }: { readsBody?: boolean } = {},
  ) {
    return (res: HttpResponse, req: HttpRequest) => {
      const name = routeOf(req);
      const headers: Record<string, string> = {};
      req.forEach((key, value) => (headers[key] = value));
      let aborted = false;
      res.onAborted(() => (aborted = true));
      const incoming: Incoming = {
        token: bearer(headers.authorization ?? ''),
        param: req.getParameter(0) ?? '',
        header: (key) => headers[key] ?? '',
        query: new URLSearchParams(req.getQuery() ?? ''),
        aborted: () => aborted,
      };
      // A body over the limit is not kept: what comes past it is dropped as it arrives, and the
      // 413 goes once it ends. Answering before the end resets the connection under a client
      // still sending (it would read ECONNRESET, not the 413).
      const body = readsBody ? readBody(res, MAX_APP_FRAME_BYTES) : Promise.resolve(Buffer.alloc(0));
      relay
        .authenticate('app', incoming.token)
        .then(async (admission) => {
          if (aborted) return;
          if (!admission.ok) {
            res.cork(() => {
              const headers: Record<string, string> = admission.status === 401 ? { 'www-authenticate': 'Bearer' } : {};
              if (admission.status === 503) headers['retry-after'] = '1';
              sendJson(res, admission.status, { error: { code: admission.reason, message: admission.message } }, headers);
            });
            counted(name, admission.status);
            return;
          }
          await handle(res, admission.principal, incoming, name, body);
        })
        .catch((err: unknown) => {
          log.error({ err, route: name }, 'HTTP API request failed');
          metrics.backgroundErrors.inc({ task: 'http_api' });
          if (aborted) return;
          res.cork(() => sendJsonText(res, 503, errorFrame(ErrorCode.RELAY_UNAVAILABLE)));
          counted(name, 503);
        });
    };
  }

  function tooLarge(res: HttpResponse, name: Route): void {
    metrics.framesRejected.inc({ role: 'app', code: ErrorCode.PAYLOAD_TOO_LARGE });
    const text = errorFrame(ErrorCode.PAYLOAD_TOO_LARGE, `Body over ${MAX_APP_FRAME_BYTES} bytes`);
    res.cork(() => sendJsonText(res, 413, text));
    counted(name, 413);
  }

  /** One frame answered by the first frame the relay writes for it (or `quiet` if none). */
  async function oneFrame(res: HttpResponse, principal: Principal, incoming: Incoming, name: Route, text: string): Promise<void> {
    const answer = new RequestAnswer(newRequestId(nodeId), principal);
    await relay.request(answer, text);
    // a cancel has no answer frame of its own: its CANCELLED final follows on the usual way
    const frame = answer.frame ?? '{}';
    if (incoming.aborted()) return;
    const type = /^\{"type":"(\w+)"/.exec(frame)?.[1];
    const status = type === 'error' ? statusOfError(frame) : type === 'agents' ? 200 : 202;
    res.cork(() => sendJsonText(res, status, frame));
    counted(name, status);
  }

  /** An SSE stream fed by one frame (an event to send, or a resume). */
  function stream(res: HttpResponse, principal: Principal, incoming: Incoming, name: Route, text: string): void {
    if (incoming.aborted()) return;
    let opened = false;
    const sse = new SseStream(res, newRequestId(nodeId), principal, Date.now(), options, {
      onOverflow: () => metrics.backpressureCloses.inc({ role: 'app' }),
      onAnswer: (status) => {
        counted(name, status);
        opened = status === 200;
        if (opened) metrics.sseStreams.inc();
      },
      onEnd: (ended, unflushed) => {
        if (opened) metrics.sseStreams.dec();
        relay.requestEnded(ended, unflushed);
      },
    });
    relay.requestStarted(sse);
    relay.received(sse, text);
  }

  app.post(
    '/v1/events',
    route(
      (req) => (/text\/event-stream/.test(req.getHeader('accept')) ? 'send_stream' : 'send'),
      async (res, principal, incoming, name, body) => {
        const bytes = await body;
        if (bytes === null) return tooLarge(res, name);
        const text = eventFrameText(bytes.toString('utf8'), incoming.header('idempotency-key'));
        if (name === 'send_stream') return stream(res, principal, incoming, name, text);
        await oneFrame(res, principal, incoming, name, text);
      },
      { readsBody: true },
    ),
  );
  app.get(
    '/v1/events/:event_id',
    route(
      () => 'status',
      async (res, principal, incoming, name) => {
        const status = await relay.eventStatus(principal.id, incoming.param);
        const [code, text] = status
          ? [200, JSON.stringify(status)]
          : [404, errorFrame(ErrorCode.UNKNOWN_EVENT, 'No event of this app with that id')];
        if (code === 404) metrics.framesRejected.inc({ role: 'app', code: ErrorCode.UNKNOWN_EVENT });
        res.cork(() => sendJsonText(res, code, text));
        counted(name, code);
      },
    ),
  );
  app.get(
    '/v1/events/:event_id/stream',
    route(
      () => 'stream',
      async (res, principal, incoming, name) => {
        const last = parseLastEventId(incoming.header('last-event-id') || (incoming.query.get('last_event_id') ?? ''));
        stream(res, principal, incoming, name, JSON.stringify({ type: 'resume', event_id: incoming.param, ...last }));
      },
    ),
  );
  app.post(
    '/v1/events/:event_id/cancel',
    route(
      () => 'cancel',
      (res, principal, incoming, name) =>
        oneFrame(res, principal, incoming, name, JSON.stringify({ type: 'cancel', event_id: incoming.param })),
    ),
  );
  app.get(
    '/v1/agents',
    route(
      () => 'agents',
      (res, principal, incoming, name) => oneFrame(res, principal, incoming, name, '{"type":"discover"}'),
    ),
  );
}

/**
 * The `event` frame for a `POST /v1/events` body: the body's own text with `type` added, so the
 * payload reaches the agent byte for byte, as from a socket. `type` goes last, as JSON's last
 * duplicate wins: a body cannot make itself another frame. `Idempotency-Key` is the field.
 * A body that is no JSON object is passed on as it is, for the parser's error.
 */
export function eventFrameText(body: string, idempotencyKey: string): string {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return body;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return body;
  const inner = body.trim().slice(1, -1).trim();
  const key = idempotencyKey ? `"idempotency_key":${JSON.stringify(idempotencyKey)},` : '';
  return `{${inner}${inner ? ',' : ''}${key}"type":"event"}`;
}

/** A plain request as a Connection: it keeps the first frame written to it, its answer. */
class RequestAnswer implements Connection {
  readonly role: Role = 'app';
  readonly channel = 'http';
  readonly since = Date.now();
  frame: string | undefined;

  constructor(
    readonly id: string,
    readonly principal: Principal,
  ) {}

  send(text: string): boolean {
    if (this.frame !== undefined) return false;
    this.frame = text;
    return true;
  }
  /** A final is never this request's answer: it goes elsewhere (see the top of this file). */
  sendFinal(): boolean {
    return false;
  }
  hasSentFinal(): boolean {
    return false;
  }
  backedUp(): boolean {
    return false;
  }
  whenDrained(): void {}
  close(): void {}
}
