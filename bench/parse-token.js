#!/usr/bin/env node
// @ts-check
// Node B's parse of an agent token frame, alone: `parseAgentFrame` of one or more builds of
// packages/protocol (e.g. before and after a change), in one process, in alternating rounds, on
// the frames bench:cluster's agents send. Prints CPU µs per frame. See docs/benchmarks.md.
// Usage: node bench/parse-token.js [--rounds R] [DIST ...]   (default DIST: packages/protocol/dist)
// A DIST outside this repository finds zod with NODE_PATH=node_modules.
const path = require('node:path');
const { parseArgs } = require('node:util');

const { values, positionals } = parseArgs({ options: { rounds: { type: 'string' } }, allowPositionals: true });
const rounds = Number(values.rounds ?? 5);
const dists = positionals.length ? positionals.map((d) => path.resolve(d)) : [path.resolve(__dirname, '../packages/protocol/dist')];
/** @type {[string, (text: string) => { ok: boolean }][]} */
const parsers = dists.map((d) => [d, require(path.join(d, 'parse.js')).parseAgentFrame]);

const pad = 'x'.repeat(24 - 'nnnnnn.nnn '.length);
const frames = Array.from({ length: 1000 }, (_, i) => `{"type":"token","event_id":"evt_01J9ZQ3K8M${i.toString(36)}","token":"${(123456.789 + i).toFixed(3)} ${pad}"}`);
const PASSES = 500; // over the 1,000 frames, per round

/** @type {Map<string, number[]>} */
const results = new Map(dists.map((d) => [d, []]));
for (let r = 0; r <= rounds; r++) {
  for (const [dist, parse] of parsers) {
    const before = process.cpuUsage();
    let ok = 0;
    for (let k = 0; k < PASSES; k++) for (const text of frames) if (parse(text).ok) ok++;
    const used = process.cpuUsage(before);
    if (ok !== PASSES * frames.length) throw new Error(`${dist}: a valid frame was rejected`);
    if (r > 0) results.get(dist)?.push((used.user + used.system) / ok); // round 0 warms the JIT
  }
}
const median = (/** @type {number[]} */ xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
for (const [dist, us] of results) {
  process.stdout.write(`${median(us).toFixed(3)} µs/frame  ${dist}  (rounds: ${us.map((u) => u.toFixed(3)).join(', ')})\n`);
}
