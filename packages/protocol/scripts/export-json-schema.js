#!/usr/bin/env node
// Build step: writes the JSON Schema of every frame, by role and direction, from the compiled
// schemas. Kept out of src/ so the library itself does no I/O and imports nothing from Node.
'use strict';
const { writeFileSync } = require('node:fs');
const { z } = require('zod');
const { FRAME_SCHEMAS } = require('../dist');

const out = process.argv[2];
if (!out) throw new Error('usage: export-json-schema <out.json>');

const schema = (s, io) => z.toJSONSchema(s, { io, unrepresentable: 'any' });
const doc = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  title: 'Relay protocol v1 frames',
  $defs: {
    app_to_relay: schema(FRAME_SCHEMAS.app.inbound, 'input'),
    relay_to_app: schema(FRAME_SCHEMAS.app.outbound, 'output'),
    agent_to_relay: schema(FRAME_SCHEMAS.agent.inbound, 'input'),
    relay_to_agent: schema(FRAME_SCHEMAS.agent.outbound, 'output'),
  },
};
writeFileSync(out, JSON.stringify(doc, null, 2) + '\n');
