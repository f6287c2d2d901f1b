#!/usr/bin/env node
// @ts-check
// Node B's work on one agent token frame, alone: `parseAgentFrame`, then the app's token frame
// (`appTokenFrame`), for one or more builds (e.g. before and after a change), in one process, in
// alternating rounds. Prints CPU µs per frame for bench:cluster's 24-byte tokens and for longer
// ones with quotes and non-ASCII text. See docs/benchmarks.md.
// Usage: node bench/token-path.js [--rounds R] [BUILD ...]
//   BUILD: a directory holding `protocol/` and `gateway/`, copies of packages/protocol/dist and
//   packages/gateway/dist (default: this repository's own dist directories).
const path = require('node:path');
const { parseArgs } = require('node:util');

const { values, positionals } = parseArgs({ options: { rounds: { type: 'string' } }, allowPositionals: true });
const rounds = Number(values.rounds ?? 5);
const own = { protocol: path.resolve(__dirname, '../packages/protocol/dist'), gateway: path.resolve(__dirname, '../packages/gateway/dist') };
const builds = positionals.length
  ? positionals.map((d) => ({ name: d, protocol: path.resolve(d, 'protocol'), gateway: path.resolve(d, 'gateway') }))
  : [{ name: 'packages/*/dist', ...own }];

const event = { id: 'evt_01J9ZQ3K8M', agentId: 'agent-07', appId: 'app-07' };
const pad = 'x'.repeat(24 - 'nnnnnn.nnn '.length);
const kinds = {
  'bench token (24 B)': (/** @type {number} */ i) => `${(123456.789 + i).toFixed(3)} ${pad}`,
  'long token (~200 B, quotes, unicode)': (/** @type {number} */ i) =>
    `${i} She said \\"déjà vu\\" — 日本語のテキスト 😀 and then a longer stretch of plain prose to make it a paragraph's worth of text, as a chatty model emits`,
};
const PASSES = 300; // over 1,000 frames, per round

/** @type {Map<string, number[]>} */
const results = new Map();
for (const [kind, tokenText] of Object.entries(kinds)) {
  const frames = Array.from({ length: 1000 }, (_, i) => `{"type":"token","event_id":"${event.id}","token":"${tokenText(i)}"}`);
  const steps = builds.map((b) => {
    const { parseAgentFrame } = require(path.join(b.protocol, 'parse.js'));
    const { appTokenFrame, appTokenHead } = require(path.join(b.gateway, 'relay/outbound.js'));
    // As the relay does: the event's head made once, at its delivery (builds before appTokenHead
    // took the event itself).
    const head = appTokenHead ? appTokenHead(event) : event;
    return { name: b.name, step: (/** @type {string} */ text, /** @type {number} */ seq) => {
      const parsed = parseAgentFrame(text);
      return appTokenFrame(head, parsed.frame.token, seq, 1, parsed.tokenJson);
    } };
  });
  // Every build must write the same frame for these tokens (they are written as JSON.stringify writes them).
  for (const text of frames.slice(0, 50)) {
    const outs = new Set(steps.map((s) => s.step(text, 3)));
    if (outs.size !== 1 && !text.includes('\\')) throw new Error(`the builds disagree on ${text}`);
    for (const out of outs) JSON.parse(out);
  }
  for (let r = 0; r <= rounds; r++) {
    for (const { name, step } of r % 2 ? steps : [...steps].reverse()) {
      const before = process.cpuUsage();
      let bytes = 0;
      for (let k = 0; k < PASSES; k++) for (let i = 0; i < frames.length; i++) bytes += step(/** @type {string} */ (frames[i]), i).length;
      const used = process.cpuUsage(before);
      if (bytes === 0) throw new Error('nothing written');
      const key = `${kind}  ${name}`;
      if (!results.has(key)) results.set(key, []);
      if (r > 0) results.get(key)?.push((used.user + used.system) / (PASSES * frames.length)); // round 0 warms the JIT
    }
  }
}
const median = (/** @type {number[]} */ xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
for (const [key, us] of results) {
  process.stdout.write(`${median(us).toFixed(3)} µs/frame  ${key}  (rounds: ${us.map((u) => u.toFixed(3)).join(', ')})\n`);
}
