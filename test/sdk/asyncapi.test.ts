/**
 * docs/asyncapi.yaml is generated from the protocol's zod schemas (packages/protocol/scripts/
 * export-asyncapi.js), valid AsyncAPI 3.0, and the committed file is what the generator makes now.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Parser } from '@asyncapi/parser';
import YAML from 'yaml';
import { FRAME_SCHEMAS } from '@relay/protocol';

const root = path.resolve(__dirname, '../..');
const committed = readFileSync(path.join(root, 'docs/asyncapi.yaml'), 'utf8');

test('the committed docs/asyncapi.yaml is exactly what the generator produces from the schemas now', () => {
  const generated = execFileSync(process.execPath, [path.join(root, 'packages/protocol/scripts/export-asyncapi.js')], { encoding: 'utf8' });
  // if this fails: npm run build && npm run asyncapi, and commit docs/asyncapi.yaml
  expect(committed).toBe(generated);
});

test('@asyncapi/parser accepts it as AsyncAPI 3.0 with no error or warning', async () => {
  const { document, diagnostics } = await new Parser().parse(committed);
  const problems = diagnostics.filter((d) => d.severity <= 1).map((d) => `${d.code}: ${d.message} at ${d.path.join('.')}`);
  expect(problems).toEqual([]);
  expect(document?.version()).toBe('3.0.0');
  expect(document?.channels().all().map((c) => c.address()).sort()).toEqual(['/v1/events/{event_id}/stream', '/v1/ws/agent', '/v1/ws/app']);
});

test('every frame of every role and direction is a message of its channel, with the schema of the protocol', () => {
  const doc = YAML.parse(committed);
  const roles = { app: ['app_to_relay', 'relay_to_app'], agent: ['agent_to_relay', 'relay_to_agent'] } as const;
  for (const [role, [inbound, outbound]] of Object.entries(roles) as [keyof typeof roles, readonly [string, string]][]) {
    for (const [direction, side, action] of [[inbound, 'inbound', 'receive'], [outbound, 'outbound', 'send']] as const) {
      const types = FRAME_SCHEMAS[role][side].options.map((o) => o.shape.type.value as string);
      const ids = types.map((t) => `${direction}.${t}`);
      expect(doc.operations[direction]).toMatchObject({ action, channel: { $ref: `#/channels/${role}` } });
      expect(doc.operations[direction].messages.map((m: { $ref: string }) => m.$ref)).toEqual(ids.map((id) => `#/channels/${role}/messages/${id}`));
      for (const [i, id] of ids.entries()) expect(doc.components.messages[id].payload.properties.type.const).toBe(types[i]);
    }
  }
  // a schema detail that only the generator could know: the event's agent_id pattern
  expect(doc.components.messages['app_to_relay.event'].payload.properties.agent_id.pattern).toBe('^[a-z0-9][a-z0-9_-]{0,63}$');
  expect(doc.components.messages['app_to_relay.event'].payload.required).toEqual(['type', 'agent_id', 'thread_id', 'payload']);
});

test('the SSE channel carries the relay → app frames of a reply stream, with their schemas', () => {
  const doc = YAML.parse(committed);
  expect(doc.channels.sse.address).toBe('/v1/events/{event_id}/stream');
  const refs = doc.operations.relay_to_app_sse.messages.map((m: { $ref: string }) => m.$ref);
  expect(refs).toEqual(['accepted', 'token', 'reply', 'error'].map((t) => `#/channels/sse/messages/relay_to_app.${t}`));
  expect(doc.components.messages['relay_to_app.token'].payload.properties.attempt).toBeDefined();
});
