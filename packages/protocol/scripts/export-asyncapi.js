#!/usr/bin/env node
// Writes docs/asyncapi.yaml: the AsyncAPI 3.0 description of protocol v1, generated from the
// compiled zod schemas (FRAME_SCHEMAS), so it cannot drift from what the relay validates.
// Never edit the output by hand: change the schemas, build, and run `npm run asyncapi`.
//
//   node packages/protocol/scripts/export-asyncapi.js [out.yaml]   (stdout without an argument)
'use strict';
const { writeFileSync } = require('node:fs');
const { z } = require('zod');
const YAML = require('yaml');
const { FRAME_SCHEMAS, APP_SUBPROTOCOL, AGENT_SUBPROTOCOL, APP_TOKEN_PREFIX, AGENT_TOKEN_PREFIX } = require('../dist');

/** Per role: its endpoint, subprotocol, token, and the names of its two directions. */
const ROLES = {
  app: {
    address: '/v1/ws/app',
    subprotocol: APP_SUBPROTOCOL,
    tokenPrefix: APP_TOKEN_PREFIX,
    inbound: 'app_to_relay',
    outbound: 'relay_to_app',
    who: 'Apps (backend services such as Portal, Flow, Academy) send events addressed to an agent and receive its streamed tokens and final reply.',
  },
  agent: {
    address: '/v1/ws/agent',
    subprotocol: AGENT_SUBPROTOCOL,
    tokenPrefix: AGENT_TOKEN_PREFIX,
    inbound: 'agent_to_relay',
    outbound: 'relay_to_agent',
    who: 'Agents (athena, klyve) receive events (at least once: dedupe by event_id), stream tokens and send one final reply.',
  },
};

/** The frame types an SSE stream carries. */
const SSE_TYPES = ['accepted', 'token', 'reply', 'error'];

/** The JSON Schema of one frame, as an AsyncAPI Schema object (JSON Schema draft 07). */
function payloadSchema(schema, io) {
  const json = z.toJSONSchema(schema, { io, target: 'draft-7', unrepresentable: 'any' });
  delete json.$schema;
  return json;
}

function buildDocument() {
  const channels = {};
  const operations = {};
  const messages = {};
  for (const [role, spec] of Object.entries(ROLES)) {
    const channelMessages = {};
    for (const [side, direction, io, action] of [
      ['inbound', spec.inbound, 'input', 'receive'],
      ['outbound', spec.outbound, 'output', 'send'],
    ]) {
      const ids = [];
      for (const option of FRAME_SCHEMAS[role][side].options) {
        const type = option.shape.type.value;
        const id = `${direction}.${type}`;
        messages[id] = {
          name: type,
          title: `${type} (${direction.replace(/_/g, ' ')})`,
          contentType: 'application/json',
          payload: payloadSchema(option, io),
        };
        channelMessages[id] = { $ref: `#/components/messages/${id}` };
        ids.push(id);
      }
      operations[direction] = {
        action,
        title: direction === spec.inbound ? `${role} → relay` : `relay → ${role}`,
        summary: action === 'receive' ? `Frames the relay accepts from an ${role}` : `Frames the relay sends to an ${role}`,
        channel: { $ref: `#/channels/${role}` },
        messages: ids.map((id) => ({ $ref: `#/channels/${role}/messages/${id}` })),
      };
    }
    channels[role] = {
      address: spec.address,
      title: `${role} connection`,
      description: `${spec.who} One WebSocket per connection; every frame is one UTF-8 JSON object with a string \`type\`.`,
      messages: channelMessages,
      bindings: {
        ws: {
          bindingVersion: '0.1.0',
          method: 'GET',
          headers: {
            type: 'object',
            properties: {
              Authorization: { type: 'string', pattern: `^Bearer ${spec.tokenPrefix}`, description: `\`Bearer ${spec.tokenPrefix}<${role}_id>_<secret>\`` },
              'Sec-WebSocket-Protocol': { type: 'string', const: spec.subprotocol, description: 'Optional; when offered, the relay selects and echoes it.' },
            },
          },
          query: {
            type: 'object',
            properties: {
              token: { type: 'string', pattern: `^${spec.tokenPrefix}`, description: 'The token, where headers are impossible (browsers).' },
            },
          },
        },
      },
    };
  }
  // The SSE stream of the HTTP API (openapi.yaml has its routes): the relay → app frames of one
  // event, each an SSE event named by its type.
  const sseIds = SSE_TYPES.map((type) => `${ROLES.app.outbound}.${type}`);
  channels.sse = {
    address: '/v1/events/{event_id}/stream',
    title: 'app reply stream (SSE)',
    description:
      'Server-sent events over HTTP (`GET /v1/events/{event_id}/stream`, or `POST /v1/events` with `Accept: text/event-stream`): ' +
      'each frame of one event is an SSE event whose `event:` is the frame type and `data:` the frame JSON; token events carry ' +
      '`id: <attempt>.<seq>`, and `Last-Event-ID` resumes after it. `: keepalive` comments come on silence; the stream ends after the final frame.',
    parameters: { event_id: { description: 'An event of this app (`evt_…`).' } },
    messages: Object.fromEntries(sseIds.map((id) => [id, { $ref: `#/components/messages/${id}` }])),
  };
  operations.relay_to_app_sse = {
    action: 'send',
    title: 'relay → app (SSE)',
    summary: "Frames of one event's reply stream, as server-sent events",
    channel: { $ref: '#/channels/sse' },
    messages: sseIds.map((id) => ({ $ref: `#/channels/sse/messages/${id}` })),
  };
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Relay',
      version: '1',
      description:
        'Relay wire protocol, version 1: a WebSocket relay between apps and AI agents. The prose contract ' +
        '(ordering, at-least-once delivery, final frames, error and close codes) is PROTOCOL.md; this document ' +
        'is generated from the zod schemas in @relay/protocol that the relay validates every frame with.',
    },
    defaultContentType: 'application/json',
    servers: {
      local: {
        host: 'localhost:8080',
        protocol: 'ws',
        description: 'A relay node started with `npm start` (any node of a cluster answers the same).',
        security: [{ $ref: '#/components/securitySchemes/bearer' }, { $ref: '#/components/securitySchemes/queryToken' }],
      },
    },
    channels,
    operations,
    components: {
      messages,
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <token> at the upgrade. A bad token gets HTTP 401.' },
        queryToken: { type: 'httpApiKey', name: 'token', in: 'query', description: '?token=<token>, for browsers.' },
      },
    },
  };
}

const HEADER =
  '# GENERATED by packages/protocol/scripts/export-asyncapi.js from the zod schemas of @relay/protocol.\n' +
  '# Do not edit: change packages/protocol/src, then `npm run build && npm run asyncapi`.\n';

const text = HEADER + YAML.stringify(buildDocument(), { lineWidth: 0, aliasDuplicateObjects: false });
const out = process.argv[2];
if (out) writeFileSync(out, text);
else process.stdout.write(text);
