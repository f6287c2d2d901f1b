#!/usr/bin/env node
// Writes docs/openapi.yaml: the OpenAPI 3.1 description of the HTTP API (apps' routes, HTTP agents'
// later answers, and as `webhooks` what the relay POSTs to app and agent webhooks), generated from
// the compiled zod schemas (request bodies, answers, the frames they carry), so it cannot drift
// from what the relay validates. Never edit the output by hand: change the schemas, build, and
// run `npm run openapi`.
//
//   node packages/protocol/scripts/export-openapi.js [out.yaml]   (stdout without an argument)
'use strict';
const { writeFileSync } = require('node:fs');
const { z } = require('zod');
const YAML = require('yaml');
const {
  AGENT_TOKEN_PREFIX,
  APP_TOKEN_PREFIX,
  AcceptedFrame,
  AgentCancelFrame,
  AgentEventFrame,
  AgentReplyFrame,
  AgentTokensBody,
  AgentsFrame,
  AppReplyFrame,
  AppTokenFrame,
  CancelAnswer,
  ErrorFrame,
  EventStatus,
  HTTP_STATUS_OF,
  HttpEventBody,
} = require('../dist');

/** Every schema the document names, by component name. */
const SCHEMAS = {
  EventBody: [HttpEventBody, 'input'],
  AcceptedFrame: [AcceptedFrame, 'output'],
  AgentsFrame: [AgentsFrame, 'output'],
  TokenFrame: [AppTokenFrame, 'output'],
  ReplyFrame: [AppReplyFrame, 'output'],
  ErrorFrame: [ErrorFrame, 'output'],
  EventStatus: [EventStatus, 'output'],
  CancelAnswer: [CancelAnswer, 'output'],
  AgentTokensBody: [AgentTokensBody, 'input'],
  AgentReplyFrame: [AgentReplyFrame, 'input'],
  AgentEventFrame: [AgentEventFrame, 'output'],
  AgentCancelFrame: [AgentCancelFrame, 'output'],
};

/** The reply an agent POSTs later: the reply frame without the fields the route already names. */
function agentReplyBody(frame) {
  const body = structuredClone(frame);
  for (const field of ['type', 'event_id', 'ref']) delete body.properties[field];
  body.required = body.required.filter((f) => !['type', 'event_id'].includes(f));
  return body;
}

function schema(zodSchema, io) {
  const json = z.toJSONSchema(zodSchema, { io, target: 'draft-2020-12', unrepresentable: 'any' });
  delete json.$schema;
  return json;
}

const ref = (name) => ({ $ref: `#/components/schemas/${name}` });
const json = (name) => ({ 'application/json': { schema: ref(name) } });

/** The codes answered with each status (PROTOCOL.md's table), for the error responses. */
function codesWith(status) {
  return Object.entries(HTTP_STATUS_OF)
    .filter(([, s]) => s === status)
    .map(([code]) => code);
}

const RETRY_AFTER = {
  'Retry-After': { description: 'Seconds to wait before trying again.', schema: { type: 'integer', minimum: 0 } },
};

function errors(...statuses) {
  const out = {
    401: {
      description: 'No token, or not a valid app (`rlk_`) token: an agent token is a wrong role.',
      content: { 'application/json': { schema: { type: 'object', properties: { error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } } } } } },
    },
  };
  for (const status of statuses) {
    out[status] = {
      description: `An \`error\` frame: ${codesWith(status).map((c) => `\`${c}\``).join(', ')}.`,
      content: json('ErrorFrame'),
      ...(status === 429 || status === 503 ? { headers: RETRY_AFTER } : {}),
    };
  }
  return out;
}

/** The agent routes' errors: an `error` frame, 401 for a token that is not this agent's. */
function agentErrors(...statuses) {
  const out = errors(...statuses);
  out[401] = { ...out[401], description: 'No token, or not a valid agent (`rla_`) token.' };
  for (const status of statuses) if (status === 404) out[404] = { description: 'An `error` frame: `UNKNOWN_EVENT` (no unanswered event of this agent over HTTP has that id, or it was cancelled).', content: json('ErrorFrame') };
  return out;
}

const AGENT_EVENT_ID = { name: 'event_id', in: 'path', required: true, description: 'An event this agent answered with 202 (`evt_…`).', schema: { type: 'string' } };

/** The Standard Webhooks headers of what the relay POSTs. */
const SIGNED = [
  { name: 'webhook-id', in: 'header', required: true, description: 'Names the delivery; the same on every try of it.', schema: { type: 'string' } },
  { name: 'webhook-timestamp', in: 'header', required: true, description: 'Unix seconds.', schema: { type: 'string' } },
  {
    name: 'webhook-signature',
    in: 'header',
    required: true,
    description: '`v1,` + base64 HMAC-SHA256 with the secret\'s decoded bytes over `<webhook-id>.<webhook-timestamp>.<body>` (verifyWebhook in @relay/sdk checks it).',
    schema: { type: 'string' },
  },
];

const EVENT_ID = { name: 'event_id', in: 'path', required: true, description: 'An event of this app (`evt_…`).', schema: { type: 'string' } };

const SSE = {
  description:
    'Server-sent events until the final frame. Each SSE event has `event:` the frame type (`accepted`, `token`, `reply`, `error`) ' +
    'and `data:` the frame JSON (split over several `data:` lines only where the frame itself has line breaks, in a payload); ' +
    'token events carry `id: <attempt>.<seq>`. A `: keepalive` comment comes every RELAY_SSE_KEEPALIVE_MS (15 s) of silence.',
  content: {
    'text/event-stream': {
      schema: { type: 'string' },
      // OpenAPI 3.1 cannot type the events of a stream (3.2's itemSchema): named in an extension
      'x-sse-frames': { oneOf: [ref('AcceptedFrame'), ref('TokenFrame'), ref('ReplyFrame'), ref('ErrorFrame')] },
    },
  },
};

function buildDocument() {
  const schemas = {};
  for (const [name, [zodSchema, io]] of Object.entries(SCHEMAS)) schemas[name] = schema(zodSchema, io);
  schemas.AgentReplyBody = agentReplyBody(schemas.AgentReplyFrame);
  delete schemas.AgentReplyFrame;
  return {
    openapi: '3.1.0',
    info: {
      title: 'Relay HTTP API',
      version: '1.1',
      description:
        'The HTTP API of Relay protocol v1.1, for apps and for agents served over HTTP: every node serves it on the same port as the WebSockets, and answers ' +
        'with the same JSON frames. The prose contract (durability, at-least-once finals, resume) is PROTOCOL.md; this ' +
        'document is generated from the zod schemas in @relay/protocol.',
    },
    servers: [{ url: 'http://localhost:8080', description: 'A relay node started with `npm start` (any node of a cluster answers the same).' }],
    security: [{ appToken: [] }],
    paths: {
      '/v1/events': {
        post: {
          operationId: 'sendEvent',
          summary: 'Send an event to an agent',
          description:
            'Answered once the event is recorded, never before. With `Accept: text/event-stream` the answer is instead an SSE ' +
            'stream whose first event is `accepted`: one request sends the event and streams its answer. Without it, the ' +
            "event's final goes to another connection of the app, else its outbox, and GET /v1/events/{event_id} reads it.",
          parameters: [
            { name: 'Idempotency-Key', in: 'header', required: false, description: 'The same as the `idempotency_key` field (the header wins).', schema: { type: 'string' } },
            { name: 'Accept', in: 'header', required: false, description: '`text/event-stream` to stream the answer.', schema: { type: 'string' } },
          ],
          requestBody: { required: true, content: json('EventBody') },
          responses: {
            202: { description: 'The `accepted` frame.', content: json('AcceptedFrame') },
            200: SSE,
            ...errors(400, 403, 404, 413, 429, 503),
          },
        },
      },
      '/v1/events/{event_id}': {
        get: {
          operationId: 'eventStatus',
          summary: 'Where an event stands',
          parameters: [EVENT_ID],
          responses: {
            200: { description: 'State, attempt and the final frame once there is one.', content: json('EventStatus') },
            ...errors(404, 503),
          },
        },
      },
      '/v1/events/{event_id}/stream': {
        get: {
          operationId: 'streamEvent',
          summary: "An event's reply stream, from the start or from Last-Event-ID",
          description:
            'Resumes exactly like the `resume` frame: every recorded token of the current attempt after the one named, then the ' +
            'live ones, then the final (at once if the event has ended). Any node serves any event. The newest stream (or ' +
            'resume) of an event takes its live frames over from an older one.',
          parameters: [
            EVENT_ID,
            { name: 'Last-Event-ID', in: 'header', required: false, description: '`<attempt>.<seq>` of the last token held.', schema: { type: 'string' } },
            { name: 'last_event_id', in: 'query', required: false, description: 'The same, where a header cannot be set.', schema: { type: 'string' } },
          ],
          responses: { 200: SSE, ...errors(404, 503) },
        },
      },
      '/v1/events/{event_id}/cancel': {
        post: {
          operationId: 'cancelEvent',
          summary: 'Cancel an event',
          description: 'The final `CANCELLED` error follows on every channel as usual.',
          parameters: [EVENT_ID],
          responses: { 202: { description: 'An empty object.', content: json('CancelAnswer') }, ...errors(404, 503) },
        },
      },
      '/v1/agents': {
        get: {
          operationId: 'discover',
          summary: 'The agents this app may send to, with live status',
          responses: { 200: { description: 'The `agents` frame.', content: json('AgentsFrame') }, ...errors(503) },
        },
      },
      '/v1/agent/events/{event_id}/tokens': {
        post: {
          operationId: 'agentTokens',
          summary: 'Tokens of an event an HTTP agent answered with 202',
          description: 'Relayed to the app (and recorded for resume) in order, each checked as a `token` frame of a socket.',
          security: [{ agentToken: [] }],
          parameters: [AGENT_EVENT_ID],
          requestBody: { required: true, content: json('AgentTokensBody') },
          responses: { 202: { description: 'An empty object.', content: json('CancelAnswer') }, ...agentErrors(400, 404, 413, 503) },
        },
      },
      '/v1/agent/events/{event_id}/reply': {
        post: {
          operationId: 'agentReply',
          summary: 'The reply to an event an HTTP agent answered with 202',
          description: "The event's last frame: its final goes to the app as a socket agent's reply would.",
          security: [{ agentToken: [] }],
          parameters: [AGENT_EVENT_ID],
          requestBody: { required: true, content: json('AgentReplyBody') },
          responses: { 202: { description: 'An empty object.', content: json('CancelAnswer') }, ...agentErrors(400, 404, 413, 503) },
        },
      },
    },
    webhooks: {
      appFinal: {
        post: {
          summary: "An app's final frame, POSTed to its webhook_url",
          description:
            'Each final (`reply`, or `error` with EVENT_EXPIRED, AGENT_TIMEOUT, CANCELLED), signed per Standard Webhooks with the ' +
            "app's webhook secret. A 2xx within RELAY_WEBHOOK_TIMEOUT_MS is delivery; anything else (a redirect too) is tried again " +
            'with backoff until RELAY_WEBHOOK_RETRY_MS. At least once: dedupe by `webhook-id` (the event id).',
          security: [], // signed instead: see the headers
          parameters: SIGNED,
          requestBody: { required: true, content: { 'application/json': { schema: { oneOf: [ref('ReplyFrame'), ref('ErrorFrame')] } } } },
          responses: { '2XX': { description: 'Delivered.' }, default: { description: 'Tried again later.' } },
        },
      },
      agentEvent: {
        post: {
          summary: "An event, POSTed to an HTTP agent's webhook_url",
          description:
            "Signed with the agent's webhook secret (`webhook-id` is `<event_id>.<attempt>`). The answer is the agent's: a JSON reply, " +
            'an NDJSON stream of `{"type":"token","token":…}` lines then one reply line, or 202 and the later POSTs above. ' +
            'Anything else, a timeout or a broken stream is a failed delivery: the event comes again as attempt + 1.',
          security: [], // signed instead: see the headers
          parameters: SIGNED,
          requestBody: { required: true, content: { 'application/json': { schema: { oneOf: [ref('AgentEventFrame'), ref('AgentCancelFrame')] } } } },
          responses: {
            200: {
              description: 'The reply, whole or streamed.',
              content: { 'application/json': { schema: ref('AgentReplyBody') }, 'application/x-ndjson': { schema: { type: 'string' } } },
            },
            202: { description: 'The agent answers later through /v1/agent/events/{event_id}/tokens and …/reply.' },
          },
        },
      },
    },
    components: {
      schemas,
      securitySchemes: {
        appToken: { type: 'http', scheme: 'bearer', description: `An app token, \`${APP_TOKEN_PREFIX}<app_id>_<secret>\`.` },
        agentToken: { type: 'http', scheme: 'bearer', description: `An agent token, \`${AGENT_TOKEN_PREFIX}<agent_id>_<secret>\`.` },
      },
    },
  };
}

const HEADER =
  '# GENERATED by packages/protocol/scripts/export-openapi.js from the zod schemas of @relay/protocol.\n' +
  '# Do not edit: change packages/protocol/src, then `npm run build && npm run openapi`.\n';

const text = HEADER + YAML.stringify(buildDocument(), { lineWidth: 0, aliasDuplicateObjects: false });
const out = process.argv[2];
if (out) writeFileSync(out, text);
else process.stdout.write(text);
