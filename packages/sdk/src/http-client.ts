import {
  FINAL_ERROR_CODES,
  parseLastEventId,
  sseTokenId,
  type AcceptedFrame,
  type AgentsFrame,
  type AppOutboundFrame,
  type ErrorFrame,
  type EventStatus,
  type HttpEventBody,
} from '@relay/protocol';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff';
import { ClientErrorCode, RelayError } from './errors';
import { readSse } from './sse';

/** A frame of a reply stream: `accepted`, `token`, `reply` or `error`. */
export type StreamFrame = Extract<AppOutboundFrame, { type: 'accepted' | 'token' | 'reply' | 'error' }>;

export interface HttpClientOptions {
  /** The relay's base URL, e.g. `https://relay.example.com` (any node). */
  url: string;
  /** The app's token, `rlk_…`. */
  token: string;
  /** A fetch of your own (a test double, a proxy agent); default: the global fetch. */
  fetch?: typeof fetch;
  /** Between a broken stream and its resume; the delay grows while resumes keep failing. */
  backoff?: BackoffOptions;
}

export interface StreamOptions {
  /** `<attempt>.<seq>` of the last token held: the stream starts after it. */
  lastEventId?: string;
  /** Ends the stream (the iterator returns). */
  signal?: AbortSignal;
}

/**
 * The relay's HTTP API for apps, over fetch only: Node 18+, edge runtimes and browsers.
 * Errors are {@link RelayError}s with the protocol's codes (UNAUTHORIZED for a 401).
 */
export interface HttpClient {
  /** Sends an event; resolves to `accepted` once the relay has recorded it. */
  send(event: HttpEventBody, options?: { idempotencyKey?: string }): Promise<AcceptedFrame>;
  /**
   * Sends an event and streams its answer in one request: `accepted`, tokens, then the final.
   * A broken connection is resumed from the last token held (`Last-Event-ID`), from any node.
   */
  sendAndStream(event: HttpEventBody, options?: { idempotencyKey?: string; signal?: AbortSignal }): AsyncIterable<StreamFrame>;
  /** An event's tokens (after `lastEventId`) and its final, resumed automatically until the final. */
  stream(eventId: string, options?: StreamOptions): AsyncIterable<StreamFrame>;
  status(eventId: string): Promise<EventStatus>;
  /** Cancels an event; its final `CANCELLED` error follows on its stream. */
  cancel(eventId: string): Promise<void>;
  /** The agents this app may send to, with live status. */
  discover(): Promise<AgentsFrame['agents']>;
}

/** A broken stream is resumed sooner than a socket reconnects: the relay was fine a moment ago. */
export const STREAM_BACKOFF: Required<BackoffOptions> = { ...DEFAULT_BACKOFF, initialMs: 500, maxMs: 10_000 };

export function createHttpClient(options: HttpClientOptions): HttpClient {
  const base = options.url.replace(/\/+$/, '');
  const doFetch = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));
  const backoff = { ...STREAM_BACKOFF, ...options.backoff };
  const headers = (extra: Record<string, string> = {}) => ({ authorization: `Bearer ${options.token}`, ...extra });
  const streamHeaders = (lastEventId: string | undefined): Record<string, string> =>
    headers({ accept: 'text/event-stream', ...(lastEventId ? { 'last-event-id': lastEventId } : {}) });

  async function request<T>(method: string, path: string, body?: unknown, extra: Record<string, string> = {}): Promise<T> {
    const res = await doFetch(`${base}${path}`, {
      method,
      headers: headers(body === undefined ? extra : { 'content-type': 'application/json', ...extra }),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return answerOf<T>(res);
  }

  return {
    send: (event, sendOptions = {}) =>
      request<AcceptedFrame>('POST', '/v1/events', event, sendOptions.idempotencyKey ? { 'idempotency-key': sendOptions.idempotencyKey } : {}),
    sendAndStream(event, sendOptions = {}) {
      const first = () =>
        doFetch(`${base}/v1/events`, {
          method: 'POST',
          headers: headers({
            'content-type': 'application/json',
            accept: 'text/event-stream',
            ...(sendOptions.idempotencyKey ? { 'idempotency-key': sendOptions.idempotencyKey } : {}),
          }),
          body: JSON.stringify(event),
          signal: sendOptions.signal,
        });
      return followStream(() => first(), { backoff, signal: sendOptions.signal }, (last, id) =>
        doFetch(`${base}/v1/events/${encodeURIComponent(id)}/stream`, { headers: streamHeaders(last), signal: sendOptions.signal }),
      );
    },
    stream(eventId, streamOptions = {}) {
      const open = (last: string | undefined) =>
        doFetch(`${base}/v1/events/${encodeURIComponent(eventId)}/stream`, { headers: streamHeaders(last), signal: streamOptions.signal });
      return followStream(() => open(streamOptions.lastEventId), { backoff, signal: streamOptions.signal, eventId, lastEventId: streamOptions.lastEventId }, open);
    },
    status: (eventId) => request<EventStatus>('GET', `/v1/events/${encodeURIComponent(eventId)}`),
    cancel: async (eventId) => {
      await request<object>('POST', `/v1/events/${encodeURIComponent(eventId)}/cancel`);
    },
    discover: async () => (await request<AgentsFrame>('GET', '/v1/agents')).agents,
  };
}

export interface FollowOptions {
  backoff: Required<BackoffOptions>;
  signal?: AbortSignal | undefined;
  /** The event, when known before the first frame (else the `accepted` frame names it). */
  eventId?: string;
  /** The token the first request starts after. */
  lastEventId?: string | undefined;
}

/**
 * Follows an event's SSE stream until its final frame: `first` opens it, and each connection
 * that breaks (or ends without a final) is opened again by `resume` after the last token
 * received (`Last-Event-ID`), after a backoff. A newer attempt's tokens start again at seq 0:
 * the reader sees `attempt`. An HTTP error answer (404, 401…) is thrown: asking again will not
 * change it.
 */
export async function* followStream(
  first: () => Promise<Response>,
  options: FollowOptions,
  resume: (lastEventId: string | undefined, eventId: string) => Promise<Response>,
): AsyncGenerator<StreamFrame> {
  let last = options.lastEventId;
  let id = options.eventId;
  let failures = 0;
  let next = first;
  for (;;) {
    try {
      for await (const frame of framesOf(await next())) {
        failures = 0;
        if (frame.type === 'accepted') id = frame.event_id;
        if (frame.type === 'token') last = sseTokenId(frame.attempt, frame.seq);
        // an error that is not a final (the store failed mid-stream) ends this request only
        if (frame.type === 'error' && !FINAL_ERROR_CODES.has(frame.code)) break;
        yield frame;
        if (frame.type === 'reply' || frame.type === 'error') return;
      }
    } catch (err) {
      if (err instanceof RelayError || options.signal?.aborted) throw err;
    }
    if (options.signal?.aborted || id === undefined) return;
    await sleep(backoffDelay(++failures, options.backoff, Math.random));
    const from = last !== undefined && parseLastEventId(last) ? last : undefined;
    const eventId = id;
    next = () => resume(from, eventId);
  }
}

/** One SSE answer's frames; an HTTP error answer is thrown as its RelayError. */
async function* framesOf(res: Response): AsyncGenerator<StreamFrame> {
  if (!res.ok || !res.body) await answerOf(res);
  for await (const event of readSse(res.body as ReadableStream<Uint8Array>)) {
    yield JSON.parse(event.data) as StreamFrame;
  }
}

/** The JSON of a successful answer, or the RelayError of an error answer. */
async function answerOf<T>(res: Response): Promise<T> {
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (res.ok) return body as T;
  if (res.status === 401) throw new RelayError(ClientErrorCode.UNAUTHORIZED, 'The relay refused the token (HTTP 401)');
  const frame = body as Partial<ErrorFrame> | undefined;
  if (frame?.type === 'error' && frame.code) throw RelayError.fromFrame(frame as ErrorFrame);
  throw new RelayError('RELAY_UNAVAILABLE', `HTTP ${res.status}`);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
