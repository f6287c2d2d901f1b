// @ts-check
// The loads of bench:events: Relay's durable event path (apps keep W events in flight to their
// agents, who answer at once) and BullMQ's add → process → complete with the same W.
const { performance } = require('node:perf_hooks');
const { Queue, Worker } = require('bullmq');
const { Redis } = require('ioredis');
const WebSocket = require('ws');
const { Samples } = require('./samples');

/** @typedef {{ events: number, seconds: number, eventsPerSec: number, acceptP50: number, acceptP99: number, finalP50: number, finalP99: number, errors: number, errorTexts: string[], unfinished: number }} EventFigures */

/** @param {string} url @param {'app' | 'agent'} role @param {string} token @returns {Promise<WebSocket>} */
function connect(url, role, token) {
  const ws = new WebSocket(`${url}/v1/ws/${role}`, { headers: { Authorization: `Bearer ${token}` }, perMessageDeflate: false });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.on('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`${role} upgrade refused: HTTP ${res.statusCode}`)));
  });
}

/**
 * Open loop: `send` called `rate` times a second (the n-th call at n / rate s, late ones at once),
 * whatever is in flight, until the returned function is called.
 * @param {number} rate @param {(n: number) => void} send @returns {() => void}
 */
function pace(rate, send) {
  const start = performance.now();
  let sent = 0;
  const timer = setInterval(() => {
    const due = Math.floor(((performance.now() - start) * rate) / 1000);
    while (sent < due) send(sent++);
  }, 1);
  return () => clearInterval(timer);
}

/**
 * Closed loop (each final answered by a new event, W in flight per app), or with `rate` an open
 * loop (`rate` events a second across the apps, whatever is in flight): warm-up, `durationMs`
 * measured (events whose final arrives in the window count), then the events in flight are let
 * finish. Latencies run from each frame's actual send.
 * @param {{ url: string, pairs: { app: { id: string, token: string }, agent: { id: string, token: string } }[],
 *   inflight: number, rate?: number, tokens: number, keys: boolean, warmupMs: number, durationMs: number, onWindow: (edge: 'start' | 'end') => Promise<void> | void }} o
 * @returns {Promise<EventFigures>}
 */
async function runRelayEvents(o) {
  // With `keys`, each event carries an idempotency key, as the SDKs' sends do.
  const run = `${process.pid}-${Date.now()}`;
  const accept = new Samples();
  const final = new Samples();
  let measuring = false;
  let draining = false;
  let finished = 0;
  let errors = 0;
  /** @type {string[]} */
  const errorTexts = [];
  let outstanding = 0;
  /** @type {() => void} */
  let drained = () => {};
  const sockets = [];
  /** @type {(() => void)[]} */
  const senders = [];
  for (const { agent } of o.pairs) {
    const ws = await connect(o.url, 'agent', agent.token);
    ws.on('message', (/** @type {Buffer} */ data) => {
      const frame = JSON.parse(data.toString());
      if (frame.type === 'event') {
        for (let i = 0; i < o.tokens; i++) ws.send(`{"type":"token","event_id":"${frame.event_id}","token":"tok ${i}"}`);
        ws.send(`{"type":"reply","event_id":"${frame.event_id}","content":"done","finish_reason":"stop"}`);
      } else if (frame.type === 'ping') ws.send('{"type":"pong"}');
    });
    sockets.push(ws);
  }
  for (const { app, agent } of o.pairs) {
    const ws = await connect(o.url, 'app', app.token);
    /** @type {Map<string, number>} ref → sent at */
    const sentAt = new Map();
    /** @type {Map<string, number>} event id → accepted at */
    const acceptedAt = new Map();
    let n = 0;
    const send = () => {
      outstanding++;
      const ref = String(n++);
      sentAt.set(ref, performance.now());
      const key = o.keys ? `,"idempotency_key":"${run}-${app.id}-${ref}"` : '';
      ws.send(`{"type":"event","agent_id":"${agent.id}","thread_id":"bench:${app.id}:${ref}","payload":{"n":${ref}},"ref":"${ref}"${key}}`);
    };
    const done = () => {
      outstanding--;
      if (!draining && o.rate === undefined) send();
      else if (draining && outstanding === 0) drained();
    };
    ws.on('message', (/** @type {Buffer} */ data) => {
      const frame = JSON.parse(data.toString());
      const now = performance.now();
      if (frame.type === 'accepted') {
        const at = sentAt.get(frame.ref);
        if (measuring && at !== undefined) accept.add(now - at);
        sentAt.delete(frame.ref);
        acceptedAt.set(frame.event_id, now);
      } else if (frame.type === 'reply') {
        if (measuring) {
          finished++;
          const at = acceptedAt.get(frame.event_id);
          if (at !== undefined) final.add(now - at);
        }
        acceptedAt.delete(frame.event_id);
        done();
      } else if (frame.type === 'error') {
        errors++;
        if (errorTexts.length < 3) errorTexts.push(data.toString());
        if (frame.event_id) acceptedAt.delete(frame.event_id);
        else sentAt.delete(frame.ref);
        done();
      } else if (frame.type === 'ping') ws.send('{"type":"pong"}');
    });
    sockets.push(ws);
    senders.push(send);
  }
  const stopPacing = o.rate === undefined ? () => {} : pace(o.rate, (n) => senders[n % senders.length]?.());
  if (o.rate === undefined) for (const send of senders) for (let i = 0; i < o.inflight; i++) send();
  await new Promise((resolve) => setTimeout(resolve, o.warmupMs));
  await o.onWindow('start');
  measuring = true;
  const start = performance.now();
  await new Promise((resolve) => setTimeout(resolve, o.durationMs));
  measuring = false;
  const seconds = (performance.now() - start) / 1000;
  stopPacing();
  await o.onWindow('end');
  draining = true;
  await new Promise((resolve) => {
    const timer = setTimeout(resolve, 10_000);
    drained = () => {
      clearTimeout(timer);
      resolve(undefined);
    };
    if (outstanding === 0) drained();
  });
  for (const ws of sockets) ws.close(1000);
  const [acceptP50, acceptP99] = accept.percentiles([50, 99]);
  const [finalP50, finalP99] = final.percentiles([50, 99]);
  return { events: finished, seconds, eventsPerSec: finished / seconds, acceptP50: /** @type {number} */ (acceptP50), acceptP99: /** @type {number} */ (acceptP99), finalP50: /** @type {number} */ (finalP50), finalP99: /** @type {number} */ (finalP99), errors, errorTexts, unfinished: outstanding };
}

/**
 * BullMQ in this process: a producer keeping `inflight` jobs outstanding (or with `rate`, adding
 * `rate` a second) and a worker of concurrency `inflight` completing each at once. "Accept" is add() resolving, "final" is the worker's
 * completed event after it.
 * With `keys`, each job is added under a job id of its own (BullMQ's deduplication by id).
 * @param {{ redisUrl: string, inflight: number, rate?: number, keys: boolean, warmupMs: number, durationMs: number, onWindow: (edge: 'start' | 'end') => Promise<void> | void }} o
 * @returns {Promise<EventFigures>}
 */
async function runBullmq(o) {
  const name = `bench-${process.pid}`;
  const connection = new Redis(o.redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue(name, { connection });
  const accept = new Samples();
  const final = new Samples();
  let measuring = false;
  let draining = false;
  let finished = 0;
  let outstanding = 0;
  /** @type {() => void} */
  let drained = () => {};
  /** @type {Map<string, number>} job id → added at */
  const addedAt = new Map();
  const workerConnection = new Redis(o.redisUrl, { maxRetriesPerRequest: null });
  const worker = new Worker(name, async () => 'done', { connection: workerConnection, concurrency: o.inflight });
  let n = 0;
  const add = () => {
    outstanding++;
    const sent = performance.now();
    queue.add('event', { n: 1 }, o.keys ? { jobId: `${name}-${n++}` } : undefined).then((job) => {
      const now = performance.now();
      if (measuring) accept.add(now - sent);
      addedAt.set(/** @type {string} */ (job.id), now);
    });
  };
  worker.on('completed', (job) => {
    const now = performance.now();
    if (measuring) {
      finished++;
      const at = addedAt.get(/** @type {string} */ (job.id));
      if (at !== undefined) final.add(now - at);
    }
    addedAt.delete(/** @type {string} */ (job.id));
    outstanding--;
    if (!draining && o.rate === undefined) add();
    else if (draining && outstanding === 0) drained();
  });
  await worker.waitUntilReady();
  const stopPacing = o.rate === undefined ? () => {} : pace(o.rate, add);
  if (o.rate === undefined) for (let i = 0; i < o.inflight; i++) add();
  await new Promise((resolve) => setTimeout(resolve, o.warmupMs));
  await o.onWindow('start');
  measuring = true;
  const start = performance.now();
  await new Promise((resolve) => setTimeout(resolve, o.durationMs));
  measuring = false;
  const seconds = (performance.now() - start) / 1000;
  stopPacing();
  await o.onWindow('end');
  draining = true;
  await new Promise((resolve) => {
    const timer = setTimeout(resolve, 10_000);
    drained = () => {
      clearTimeout(timer);
      resolve(undefined);
    };
    if (outstanding === 0) drained();
  });
  await worker.close();
  await queue.close();
  // BullMQ leaves connections it was given open: the next round's Redis is another.
  connection.disconnect();
  workerConnection.disconnect();
  const [acceptP50, acceptP99] = accept.percentiles([50, 99]);
  const [finalP50, finalP99] = final.percentiles([50, 99]);
  return { events: finished, seconds, eventsPerSec: finished / seconds, acceptP50: /** @type {number} */ (acceptP50), acceptP99: /** @type {number} */ (acceptP99), finalP50: /** @type {number} */ (finalP50), finalP99: /** @type {number} */ (finalP99), errors: 0, errorTexts: [], unfinished: outstanding };
}

module.exports = { runRelayEvents, runBullmq };
