#!/usr/bin/env node
// @ts-check
// Summarizes a V8 .cpuprofile (from `npm run bench:cluster -- --cpu-prof DIR`): the functions
// with the most self time, and the source files (or node internals) they sit in.
// Usage: node bench/cpu-top.js DIR/node-b.cpuprofile [how many rows, default 25]
const { readFileSync } = require('node:fs');
const path = require('node:path');

/** @typedef {{ id: number, callFrame: { functionName: string, url: string, lineNumber: number }, children?: number[] }} ProfileNode */

const [file, rowsArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: node bench/cpu-top.js PROFILE.cpuprofile [rows]\n');
  process.exit(2);
}
const rows = Number(rowsArg ?? 25);
/** @type {{ nodes: ProfileNode[], samples: number[], timeDeltas: number[] }} */
const profile = JSON.parse(readFileSync(file, 'utf8'));

/** Self time in ms per profile node id: each sample's time goes to the node it landed in. */
const selfMs = new Map();
profile.samples.forEach((id, i) => selfMs.set(id, (selfMs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000));
const total = [...selfMs.values()].reduce((a, b) => a + b, 0);

/** @param {ProfileNode['callFrame']} f */
const where = (f) => {
  if (!f.url) return '(native)';
  const url = f.url.replace(/^file:\/\//, '');
  const nm = url.lastIndexOf('node_modules/');
  return nm >= 0 ? url.slice(nm + 'node_modules/'.length) : path.relative(process.cwd(), url) || url;
};

/** @type {Map<string, number>} */
const byFunction = new Map();
/** @type {Map<string, number>} */
const byFile = new Map();
for (const node of profile.nodes) {
  const ms = selfMs.get(node.id) ?? 0;
  if (!ms) continue;
  const f = node.callFrame;
  const fn = `${f.functionName || '(anonymous)'}  ${where(f)}${f.url ? `:${f.lineNumber + 1}` : ''}`;
  byFunction.set(fn, (byFunction.get(fn) ?? 0) + ms);
  const file = where(f).replace(/^(@?[^/]+(?:\/[^/]+)?)\/.*/, (m, pkg) => (m.includes('node_modules') ? pkg : m));
  byFile.set(file, (byFile.get(file) ?? 0) + ms);
}

/** @param {string} title @param {Map<string, number>} table */
const print = (title, table) => {
  process.stdout.write(`\n${title} (of ${total.toFixed(0)} ms sampled)\n`);
  for (const [name, ms] of [...table].sort((a, b) => b[1] - a[1]).slice(0, rows)) {
    process.stdout.write(`${((100 * ms) / total).toFixed(1).padStart(6)}%  ${ms.toFixed(0).padStart(7)} ms  ${name}\n`);
  }
};
print(`Self time by function, ${path.basename(file)}`, byFunction);
print('Self time by file', byFile);
