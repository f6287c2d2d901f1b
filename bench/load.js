// @ts-check
// The load generator: agents and apps over `ws`, and the bare Redis pub/sub baseline. It runs in
// one process, so every latency is one clock's send stamp subtracted from its own receive time.
// It shares the machine with the nodes and Redis, so the hot paths below avoid per-frame
// allocation where it is easy: frames are matched on bytes, not JSON.parse'd.
const { performance } = require('node:perf_hooks');
const { Redis } = require('ioredis');
const WebSocket = require('ws');
const { Samples, stamp } = require('./samples');

/** @typedef {{ frames: number, seconds: number, framesPerSec: number, p50: number, p99: number, p999: number, frameBytes: number }} Figures */

const TOKEN_FIELD = Buffer.from('"token":"');
const EVENT_ID_FIELD = Buffer.from('"event_id":"');
const TYPE_AT = '{"type":"'.length; // first letter of the type in every frame the relay writes

/**
 * The send stamp at the start of a token's text (digits and '.', up to the first space).
 * @param {Buffer} frame @returns {number} ms, or NaN if there is none
 */
function readStamp(frame) {
  const at = frame.indexOf(TOKEN_FIELD);
  if (at < 0) return NaN;
  let value = 0;
  let scale = 0;
  for (let i = at + TOKEN_FIELD.length; i < frame.length; i++) {
    const c = /** @type {number} */ (frame[i]);
    if (c === 0x2e) scale = 1;
    else if (c >= 0x30 && c <= 0x39) {
      value = value * 10 + (c - 0x30);
      if (scale) scale *= 10;
    } else break;
  }
  return scale ? value / scale : value;
}

/**
 * Whether a token's text says it was sent soon after a reply on the same agent socket (open
 * loop): its padding then starts with 'r' instead of 'x'.
 * @param {Buffer} frame
 */
function sentAfterReply(frame) {
  return frame[frame.indexOf(0x20, frame.indexOf(TOKEN_FIELD)) + 1] === 0x72;
}

/** How soon after a reply a token counts as sent "after a reply" (issue 19 item 1). */
const AFTER_REPLY_MS = 10;

/** @param {Buffer} frame */
function readEventId(frame) {
  const at = frame.indexOf(EVENT_ID_FIELD) + EVENT_ID_FIELD.length;
  return frame.toString('latin1', at, frame.indexOf(0x22, at));
}

/**
 * Opens a socket to the relay. Frames are sent unmasked (a zero mask, legal and free) and
 * received without UTF-8 validation: only load-generator CPU is saved, the relay sees the same.
 * @param {string} url @param {'app' | 'agent'} role @param {string} token @returns {Promise<WebSocket>}
 */
function connect(url, role, token) {
  const ws = new WebSocket(`${url}/v1/ws/${role}`, {
    headers: { Authorization: `Bearer ${token}` },
    perMessageDeflate: false,
    skipUTF8Validation: true,
    generateMask: (mask) => void mask.fill(0),
  });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.on('error', reject); // after open too: a no-op then, where an unheard error would throw
    ws.once('unexpected-response', (_req, res) => reject(new Error(`${role} upgrade refused: HTTP ${res.statusCode}`)));
  });
}

/**
 * The part of runRelay's options that a bench's parsed options give (the load's shape), so each
 * bench that runs it (cluster, shards, socketio) names them once.
 * @param {{ tokens: number, inflight: number, tokenBytes: number, warmupMs: number, durationMs: number }} o
 * @param {{ app: { id: string, token: string }, agent: { id: string, token: string } }[]} pairs
 */
function loadShape(o, pairs) {
  return { pairs, tokens: o.tokens, inflight: o.inflight, tokenBytes: o.tokenBytes, warmupMs: o.warmupMs, durationMs: o.durationMs };
}

/**
 * N agents on node B stream T tokens then a reply for every event; N apps on node A keep
 * `inflight` events each outstanding to their own agent. Warm-up, then `durationMs` measured:
 * every token frame an app receives in that window counts, with its stamp-to-arrival latency.
 * @param {{ appUrl: string, agentUrl: string, pairs: { app: { id: string, token: string }, agent: { id: string, token: string } }[],
 *   tokens: number, inflight: number, tokenBytes: number, warmupMs: number, durationMs: number,
 *   rate?: number, onWindow?: (edge: 'start' | 'end') => void }} o
 */
async function runRelay(o) {
  const pad = 'x'.repeat(Math.max(0, o.tokenBytes - 'nnnnnn.nnn '.length));
  const padAfterReply = pad.length > 0 ? `r${pad.slice(1)}` : pad;
  const samples = new Samples();
  /** Open loop: tokens sent within AFTER_REPLY_MS of a reply on their socket, apart. */
  const afterReply = new Samples();
  /** @type {Map<WebSocket, number>} when each agent socket last sent a reply (open loop) */
  const lastReply = new Map();
  /** @type {'warmup' | 'measure' | 'drain'} */
  let phase = 'warmup';
  let sent = 0;
  let received = 0;
  let events = 0;
  let errors = 0;
  let frameBytes = 0;
  /** @type {string[]} */
  const errorTexts = [];
  let outstanding = 0;
  /** @type {() => void} */
  let drained = () => {};

  // Open loop (`rate`): the events whose tokens are still to come, served round robin by one
  // clock at `rate` tokens/s whatever the relay does. Each token carries the time it was due,
  // not the time it went out, so a late load generator counts against the latency, not for it.
  /** @type {{ ws: WebSocket, head: string, reply: string, left: number }[]} */
  const streams = [];
  let next = 0;
  let scheduled = 0;
  let missed = 0;
  let t0 = 0;
  const tick = () => {
    const due = Math.floor(((performance.now() - t0) * (o.rate ?? 0)) / 1000);
    for (; scheduled < due; scheduled++) {
      if (streams.length === 0) {
        if (phase === 'measure') missed++; // every event in flight is waiting on the relay
        continue;
      }
      if (next >= streams.length) next = 0;
      const s = /** @type {(typeof streams)[number]} */ (streams[next]);
      const soon = performance.now() - (lastReply.get(s.ws) ?? -Infinity) <= AFTER_REPLY_MS;
      s.ws.send(`${s.head}${(t0 + (scheduled * 1000) / (o.rate ?? 1)).toFixed(3)} ${soon ? padAfterReply : pad}"}`);
      sent++;
      if (--s.left > 0) next++;
      else {
        s.ws.send(s.reply);
        lastReply.set(s.ws, performance.now());
        streams.splice(next, 1);
      }
    }
  };

  /**
   * An agent answers every event at once with T tokens, each stamped as it is sent, then a reply
   * (open loop: the clock above sends them).
   * @param {{ id: string, token: string }} agent
   */
  const openAgent = async (agent) => {
    const ws = await connect(o.agentUrl, 'agent', agent.token);
    ws.on('message', (/** @type {Buffer} */ data) => {
      const type = data[TYPE_AT];
      if (type === 0x65 /* e */ && data[TYPE_AT + 1] === 0x76 /* v: event */) {
        const eventId = readEventId(data);
        const head = `{"type":"token","event_id":"${eventId}","token":"`;
        const reply = `{"type":"reply","event_id":"${eventId}","content":"done","finish_reason":"stop"}`;
        if (o.rate) {
          streams.push({ ws, head, reply, left: o.tokens });
          return;
        }
        for (let i = 0; i < o.tokens; i++) ws.send(`${head}${stamp()} ${pad}"}`);
        sent += o.tokens;
        ws.send(reply);
      } else if (type === 0x70 /* p */ && data[TYPE_AT + 1] === 0x69 /* ping */) {
        ws.send('{"type":"pong"}');
      }
    });
    return ws;
  };

  /** @param {WebSocket} ws @param {string} agentId @param {string} appId */
  const sendEvent = (ws, agentId, appId) => {
    outstanding++;
    events++;
    ws.send(`{"type":"event","agent_id":"${agentId}","thread_id":"bench:${appId}:${events}","payload":{"n":${events}}}`);
  };
  /** @param {WebSocket} ws @param {string} agentId @param {string} appId */
  const finished = (ws, agentId, appId) => {
    outstanding--;
    if (phase !== 'drain') sendEvent(ws, agentId, appId);
    else if (outstanding === 0) drained();
  };

  /**
   * An app times every token and sends a new event for each one that ends.
   * @param {{ id: string, token: string }} app @param {{ id: string }} agent
   */
  const openApp = async (app, agent) => {
    const ws = await connect(o.appUrl, 'app', app.token);
    ws.on('message', (/** @type {Buffer} */ data) => {
      const type = data[TYPE_AT];
      if (type === 0x74 /* t: token */) {
        received++;
        if (phase !== 'measure') return;
        const latency = performance.now() - readStamp(data);
        samples.add(latency);
        if (o.rate && sentAfterReply(data)) afterReply.add(latency);
        if (frameBytes === 0) frameBytes = data.length;
      } else if (type === 0x72 /* r: reply */) {
        finished(ws, agent.id, app.id);
      } else if (type === 0x65 /* e: error */) {
        errors++;
        if (errorTexts.length < 3) errorTexts.push(data.toString());
        finished(ws, agent.id, app.id);
      } else if (type === 0x70 /* p */ && data[TYPE_AT + 1] === 0x69 /* ping */) {
        ws.send('{"type":"pong"}');
      }
    });
    return ws;
  };

  // Agents first, then apps. A socket a node drops right after the upgrade (uWS v20.30 did, 1 in
  // ~100, until the upgrade left res.cork) is opened again before the load starts, and counted.
  /** @type {Map<string, WebSocket>} */
  const sockets = new Map();
  /** @type {{ who: string, open: () => Promise<WebSocket> }[]} */
  const plan = [
    ...o.pairs.map(({ agent }) => ({ who: agent.id, open: () => openAgent(agent) })),
    ...o.pairs.map(({ app, agent }) => ({ who: app.id, open: () => openApp(app, agent) })),
  ];
  let reopened = 0;
  for (let round = 0; ; round++) {
    const missing = plan.filter(({ who }) => sockets.get(who)?.readyState !== WebSocket.OPEN);
    if (missing.length === 0) break;
    if (round === 5) throw new Error(`the nodes keep closing sockets: ${missing.map((m) => m.who).join(', ')}`);
    if (round > 0) reopened += missing.length;
    for (const { who, open } of missing) sockets.set(who, await open());
    await new Promise((resolve) => setTimeout(resolve, 250)); // agents attached, early closes seen
  }
  /** @type {string[]} Sockets closed on us once the load runs: each takes a pair out of it. */
  const closedEarly = [];
  let ending = false;
  for (const [who, ws] of sockets) {
    ws.on('error', (err) => closedEarly.push(`${who} error ${err.message}`));
    ws.on('close', (code, reason) => {
      if (!ending) closedEarly.push(`${who} closed ${code} ${reason.toString()}`);
    });
  }
  for (const { app, agent } of o.pairs) {
    const ws = /** @type {WebSocket} */ (sockets.get(app.id));
    for (let i = 0; i < o.inflight; i++) sendEvent(ws, agent.id, app.id);
  }

  t0 = performance.now();
  const ticker = o.rate ? setInterval(tick, 1) : undefined;
  await new Promise((resolve) => setTimeout(resolve, o.warmupMs));
  o.onWindow?.('start');
  phase = 'measure';
  const start = performance.now();
  await new Promise((resolve) => setTimeout(resolve, o.durationMs));
  const seconds = (performance.now() - start) / 1000;
  phase = 'drain';
  o.onWindow?.('end');
  const frames = samples.length;

  // Let the events in flight finish, so every token sent can be accounted for.
  await new Promise((resolve) => {
    const timer = setTimeout(resolve, 10_000);
    drained = () => {
      clearTimeout(timer);
      resolve(undefined);
    };
    if (outstanding === 0) drained();
  });
  clearInterval(ticker);
  await new Promise((resolve) => setTimeout(resolve, 200)); // stragglers after the reply
  ending = true;
  for (const ws of sockets.values()) ws.close(1000);

  const [p50, p99, p999] = samples.percentiles([50, 99, 99.9]);
  const [afterReplyP50, afterReplyP99] = afterReply.percentiles([50, 99]);
  /** @type {Figures} */
  const figures = { frames, seconds, framesPerSec: frames / seconds, p50: /** @type {number} */ (p50), p99: /** @type {number} */ (p99), p999: /** @type {number} */ (p999), frameBytes };
  return { ...figures, sent, received, lost: sent - received, events, errors, errorTexts, unfinished: outstanding, closedEarly, reopened, missed,
    afterReply: { frames: afterReply.length, p50: afterReplyP50, p99: afterReplyP99 } };
}

/**
 * The baseline: the same number of frames, of the same size, through one ioredis publisher
 * and one subscriber on one channel, in the same closed loop as the relay run: `streams` bursts
 * of `burst` frames outstanding, a new burst published as each one arrives in full. A warm-up
 * of one tenth (at most 20,000 frames) comes first and is not measured.
 * @param {{ redisUrl: string, frames: number, frameBytes: number, burst: number, streams: number }} o
 * @returns {Promise<Figures>}
 */
async function runBaseline(o) {
  const publisher = new Redis(o.redisUrl);
  const subscriber = new Redis(o.redisUrl);
  const channel = `bench-baseline-${process.pid}`;
  await subscriber.subscribe(channel);
  const warmup = Math.min(20_000, Math.ceil(o.frames / 10));
  const total = warmup + o.frames;
  const { head, tail, pad } = baselineFrame(o.frameBytes);
  const samples = new Samples();
  let published = 0;
  let received = 0;
  let start = 0;

  const publishBurst = () => {
    for (let i = 0; i < o.burst && published < total; i++, published++) {
      publisher.publish(channel, `${head}${stamp()} ${pad}${tail}`).catch(() => {});
    }
  };
  const seconds = await new Promise((resolve) => {
    subscriber.on('messageBuffer', (/** @type {Buffer} */ _channel, /** @type {Buffer} */ message) => {
      received++;
      if (received > warmup) samples.add(performance.now() - readStamp(message));
      else if (received === warmup) start = performance.now();
      if (received === total) resolve((performance.now() - start) / 1000);
      else if (received % o.burst === 0) publishBurst();
    });
    for (let s = 0; s < o.streams; s++) publishBurst();
  });
  publisher.disconnect();
  subscriber.disconnect();
  const [p50, p99, p999] = samples.percentiles([50, 99, 99.9]);
  return { frames: o.frames, seconds, framesPerSec: o.frames / seconds, p50: /** @type {number} */ (p50), p99: /** @type {number} */ (p99), p999: /** @type {number} */ (p999), frameBytes: head.length + 11 + pad.length + tail.length };
}

/**
 * The open-loop baseline: frames of `frameBytes` published by one ioredis connection at `rate`
 * per second, each stamped with the time it was due, to one subscriber; `warmupMs`, then
 * `durationMs` measured.
 * @param {{ redisUrl: string, rate: number, frameBytes: number, warmupMs: number, durationMs: number }} o
 * @returns {Promise<Figures>}
 */
async function runBaselineOpenLoop(o) {
  const publisher = new Redis(o.redisUrl);
  const subscriber = new Redis(o.redisUrl);
  const channel = `bench-baseline-${process.pid}`;
  await subscriber.subscribe(channel);
  const { head, tail, pad } = baselineFrame(o.frameBytes);
  const samples = new Samples();
  let measuring = false;
  subscriber.on('messageBuffer', (/** @type {Buffer} */ _channel, /** @type {Buffer} */ message) => {
    if (measuring) samples.add(performance.now() - readStamp(message));
  });
  const t0 = performance.now();
  let scheduled = 0;
  const ticker = setInterval(() => {
    const due = Math.floor(((performance.now() - t0) * o.rate) / 1000);
    for (; scheduled < due; scheduled++) {
      publisher.publish(channel, `${head}${(t0 + (scheduled * 1000) / o.rate).toFixed(3)} ${pad}${tail}`).catch(() => {});
    }
  }, 1);
  await new Promise((resolve) => setTimeout(resolve, o.warmupMs));
  measuring = true;
  const start = performance.now();
  await new Promise((resolve) => setTimeout(resolve, o.durationMs));
  measuring = false;
  const seconds = (performance.now() - start) / 1000;
  clearInterval(ticker);
  publisher.disconnect();
  subscriber.disconnect();
  const [p50, p99, p999] = samples.percentiles([50, 99, 99.9]);
  const frames = samples.length;
  return { frames, seconds, framesPerSec: frames / seconds, p50: /** @type {number} */ (p50), p99: /** @type {number} */ (p99), p999: /** @type {number} */ (p999), frameBytes: head.length + 11 + pad.length + tail.length };
}

/** A frame shaped like the app's token frame, padded to `frameBytes`: its parts around the stamp. */
function baselineFrame(/** @type {number} */ frameBytes) {
  const head = '{"type":"token","event_id":"evt_0000000000000000000000000","agent_id":"agent0","token":"';
  const tail = '","seq":0}';
  const fixed = head.length + 'nnnnnn.nnn '.length + tail.length;
  return { head, tail, pad: 'x'.repeat(Math.max(0, frameBytes - fixed)) };
}

module.exports = { loadShape, runRelay, runBaseline, runBaselineOpenLoop };
