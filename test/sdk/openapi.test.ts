/**
 * docs/openapi.yaml is generated from the protocol's zod schemas (packages/protocol/scripts/
 * export-openapi.js), and the committed file is what the generator makes now.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import YAML from 'yaml';
import { HTTP_STATUS_OF } from '@relay/protocol';

const root = path.resolve(__dirname, '../..');
const committed = readFileSync(path.join(root, 'docs/openapi.yaml'), 'utf8');
const doc = YAML.parse(committed);

test('the committed docs/openapi.yaml is exactly what the generator produces from the schemas now', () => {
  const generated = execFileSync(process.execPath, [path.join(root, 'packages/protocol/scripts/export-openapi.js')], { encoding: 'utf8' });
  // if this fails: npm run build && npm run openapi, and commit docs/openapi.yaml
  expect(committed).toBe(generated);
});

test('OpenAPI 3.1 with every route of the contract, each schema valid JSON Schema 2020-12 and every $ref resolved', () => {
  expect(doc.openapi).toBe('3.1.0');
  const routes = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([p, ops]) =>
    Object.keys(ops).map((method) => `${method.toUpperCase()} ${p}`),
  );
  expect(routes.sort()).toEqual([
    'GET /v1/agents',
    'GET /v1/events/{event_id}',
    'GET /v1/events/{event_id}/stream',
    'POST /v1/agent/events/{event_id}/reply',
    'POST /v1/agent/events/{event_id}/tokens',
    'POST /v1/events',
    'POST /v1/events/{event_id}/cancel',
  ].sort());
  expect(Object.keys(doc.webhooks).sort()).toEqual(['agentEvent', 'appFinal']);
  expect(doc.paths['/v1/agent/events/{event_id}/reply'].post.security).toEqual([{ agentToken: [] }]);
  const ajv = new Ajv2020({ strict: false });
  for (const [name, schema] of Object.entries(doc.components.schemas as Record<string, object>)) {
    expect([name, ajv.validateSchema(schema)]).toEqual([name, true]);
  }
  const refs = [...committed.matchAll(/\$ref: "?#\/components\/schemas\/(\w+)"?/g)].map((m) => m[1] as string);
  expect(refs.length).toBeGreaterThan(0);
  for (const name of refs) expect(doc.components.schemas[name]).toBeDefined();
});

test('each error status of a route names the codes PROTOCOL.md gives it', () => {
  const send = doc.paths['/v1/events'].post.responses;
  for (const [code, status] of Object.entries(HTTP_STATUS_OF)) {
    if (status >= 400) expect([code, send[status]?.description]).toEqual([code, expect.stringContaining(code)]);
  }
  expect(send[429].headers['Retry-After']).toBeDefined();
  expect(send[503].headers['Retry-After']).toBeDefined();
});
