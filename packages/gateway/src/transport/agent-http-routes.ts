import { AgentTokensBody, ErrorCode, MAX_AGENT_FRAME_BYTES, parseAgentFrame, type AgentTokenFrame, type FrameError } from '@relay/protocol';
import type { Logger } from 'pino';
import type { LaterFrames } from '../ports';
import type { Metrics } from '../relay/metrics';
import { errorFrame } from '../relay/outbound';
import type { Relay } from '../relay/relay';
import { bearer, NOSNIFF, readBody, statusLine } from './http';
import type { HttpResponse, TemplatedApp } from './uws';

export interface AgentHttpRoutesOptions {
  relay: Relay;
  log: Logger;
  metrics: Metrics;
}

/** Seconds an agent waits before POSTing again after RELAY_UNAVAILABLE. */
const RETRY_AFTER_S = '1';

/**
 * What an HTTP agent that answered its event with 202 POSTs later (PROTOCOL.md "Agents over
 * HTTP"), with its `rla_` token: `…/tokens` with `{"tokens": ["…", …]}`, then `…/reply` with the
 * reply frame's fields. Each token and the reply are checked by the socket frames' parser, and
 * answered with the error frame and the contract's status when they are refused.
 */
export function registerAgentHttpRoutes(app: TemplatedApp, options: AgentHttpRoutesOptions): void {
  const { relay, log, metrics } = options;

  for (const kind of ['tokens', 'reply'] as const) {
    app.post(`/v1/agent/events/:event_id/${kind}`, (res, req) => {
      const token = bearer(req.getHeader('authorization'));
      const eventId = req.getParameter(0) ?? '';
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });
      const refuse = (status: number, code: string, body: string, headers: Record<string, string> = {}) => {
        metrics.framesRejected.inc({ role: 'agent', code });
        answer(status, body, headers);
      };
      const answer = (status: number, body: string, headers: Record<string, string> = {}) => {
        if (aborted) return;
        res.cork(() => {
          res.writeStatus(statusLine(status)).writeHeader('content-type', 'application/json').writeHeader('x-content-type-options', NOSNIFF);
          for (const [name, value] of Object.entries(headers)) res.writeHeader(name, value);
          res.end(body);
        });
      };
      readBody(res, MAX_AGENT_FRAME_BYTES)
        .then(async (raw) => {
          if (raw === null) return refuse(413, ErrorCode.PAYLOAD_TOO_LARGE, errorFrame(ErrorCode.PAYLOAD_TOO_LARGE, undefined, { event_id: eventId }));
          const posted = laterFrames(kind, eventId, raw.toString('utf8'));
          if ('error' in posted) {
            const { code, message, details } = posted.error;
            return refuse(400, code, errorFrame(code, message, { event_id: eventId, details }));
          }
          const outcome = await relay.agentPosted(token, eventId, posted);
          if (outcome === 'unauthorized') {
            return refuse(401, 'unauthorized', JSON.stringify({ error: { code: 'unauthorized', message: 'Unknown, revoked or wrong-role token' } }));
          }
          if (outcome === 'unknown_event') {
            const message = 'No unanswered event of this agent over HTTP has that id';
            return refuse(404, ErrorCode.UNKNOWN_EVENT, errorFrame(ErrorCode.UNKNOWN_EVENT, message, { event_id: eventId }));
          }
          answer(202, '{}');
        })
        .catch((err: unknown) => {
          log.warn({ err, event_id: eventId }, 'an HTTP agent POST could not be handled');
          refuse(503, ErrorCode.RELAY_UNAVAILABLE, errorFrame(ErrorCode.RELAY_UNAVAILABLE, undefined, { event_id: eventId }), { 'retry-after': RETRY_AFTER_S });
        });
    });
  }
}

/** The body as the frames an agent socket would have sent, or the error it is answered with. */
function laterFrames(kind: 'tokens' | 'reply', eventId: string, text: string): LaterFrames | { error: FrameError } {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { error: { code: ErrorCode.INVALID_JSON, message: 'Body is not JSON' } };
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return invalid('Body must be a JSON object');
  if (kind === 'reply') {
    const parsed = parseAgentFrame(JSON.stringify({ ...body, type: 'reply', event_id: eventId }));
    if (!parsed.ok) return { error: parsed.error };
    if (parsed.frame.type !== 'reply') return invalid('Not a reply');
    return { kind: 'reply', frame: parsed.frame, payloadRaw: parsed.payloadRaw };
  }
  const tokens = AgentTokensBody.safeParse(body);
  if (!tokens.success) return invalid('"tokens" must be a non-empty array of strings');
  const frames: AgentTokenFrame[] = [];
  for (const token of tokens.data.tokens) {
    const parsed = parseAgentFrame(JSON.stringify({ type: 'token', event_id: eventId, token }));
    if (!parsed.ok) return { error: parsed.error };
    if (parsed.frame.type !== 'token') return invalid('Not a token');
    frames.push(parsed.frame);
  }
  return { kind: 'tokens', frames };
}

function invalid(message: string): { error: FrameError } {
  return { error: { code: ErrorCode.INVALID_MESSAGE, message } };
}
