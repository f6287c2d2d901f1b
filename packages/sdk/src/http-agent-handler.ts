import { verifyWebhook, type AgentEventFrame } from '@relay/protocol';
import type { EventHandler } from './agent-client';
import { ReplyImpl } from './agent-reply';
import { ClientErrorCode, ErrorCode, RelayError } from './errors';

/** A fetch-API handler: what Node (with an adapter), Bun, Deno and edge runtimes serve. */
export type FetchHandler = (request: Request) => Promise<Response>;

const NDJSON = { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' };

/**
 * Serves an agent over HTTP (PROTOCOL.md "Agents over HTTP") with the same handler an agent
 * client's `onEvent` takes: the relay POSTs each event to this handler, which checks its
 * signature with the agent's webhook secret (401 if it does not verify), runs `handler`, and
 * streams the answer back as NDJSON: a line per `reply.token()`, then the reply line. A handler
 * that throws or returns without replying answers `finish_reason: "error"`, as on a socket.
 *
 * `reply.signal` fires when the relay gives up on the request (the app cancelled, or the silence
 * timeout passed), and when the relay POSTs a `cancel` for an event this same process is running.
 * Delivery is at least once: a redelivery (`attempt` > 1) runs the handler again.
 */
export function createHttpAgentHandler(secret: string, handler: EventHandler): FetchHandler {
  /** Events running in this process, so a `cancel` POSTed here stops them. */
  const running = new Map<string, AbortController>();

  return async (request) => {
    if (request.method !== 'POST') return new Response(null, { status: 405, headers: { allow: 'POST' } });
    const body = await request.text();
    let frame: { type?: unknown; event_id?: unknown };
    try {
      frame = (await verifyWebhook(secret, request.headers, body)) as typeof frame;
    } catch (err) {
      return Response.json({ error: err instanceof Error ? err.message : 'not verified' }, { status: 401 });
    }
    if (frame.type === 'cancel') {
      running.get(String(frame.event_id))?.abort(new RelayError(ErrorCode.CANCELLED, 'The app cancelled the event', String(frame.event_id)));
      return new Response(null, { status: 204 });
    }
    if (frame.type !== 'event') return Response.json({ error: 'neither an event nor a cancel' }, { status: 400 });
    return new Response(answer(frame as AgentEventFrame, request.signal), { status: 200, headers: NDJSON });
  };

  function answer(event: AgentEventFrame, requestSignal: AbortSignal): ReadableStream<Uint8Array> {
    const controller = new AbortController();
    const stop = () => controller.abort(new RelayError(ClientErrorCode.CLOSED, 'The relay closed the request', event.event_id));
    requestSignal.addEventListener('abort', stop, { once: true });
    const encoder = new TextEncoder();
    let cancelled = false;
    return new ReadableStream<Uint8Array>({
      start(out) {
        const write = (line: string) => {
          if (!controller.signal.aborted) out.enqueue(encoder.encode(`${line}\n`));
        };
        const reply = new ReplyImpl(event, controller.signal, {
          token: (_eventId, text) => write(JSON.stringify({ type: 'token', token: text })),
          reply: (_eventId, text) => write(text),
        });
        running.set(event.event_id, controller);
        void (async () => {
          try {
            await handler(event, reply);
            if (!reply.replied) reply.fail('The handler returned without a reply');
          } catch (err) {
            if (!reply.replied) reply.fail((err instanceof Error ? err.message : String(err)) || 'The agent failed');
          } finally {
            if (running.get(event.event_id) === controller) running.delete(event.event_id);
            requestSignal.removeEventListener('abort', stop);
            // once the relay went away the stream is cancelled, and closing it would throw
            if (!cancelled) out.close();
          }
        })();
      },
      cancel() {
        cancelled = true;
        stop();
      },
    });
  }
}
