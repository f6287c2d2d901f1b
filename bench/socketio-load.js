// @ts-check
// The load of bench:cluster (load.js runRelay), shaped for the Socket.IO relay in
// socketio-server.js: N agents on node B and N apps on node A, each app keeping `inflight`
// events outstanding, each agent answering an event at once with T stamped tokens and a reply.
const { performance } = require('node:perf_hooks');
const { io } = require('socket.io-client');
const { Samples, stamp } = require('./samples');

/**
 * @param {string} url @param {string} token
 * @returns {Promise<import('socket.io-client').Socket>}
 */
function connect(url, token) {
  const socket = io(url, { transports: ['websocket'], auth: { token }, reconnection: false, forceNew: true });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', reject);
  });
}

/**
 * @param {{ appUrl: string, agentUrl: string, pairs: { app: { id: string, token: string }, agent: { id: string, token: string } }[],
 *   tokens: number, inflight: number, tokenBytes: number, warmupMs: number, durationMs: number,
 *   onWindow?: (edge: 'start' | 'end') => void }} o
 */
async function runSocketIo(o) {
  const pad = 'x'.repeat(Math.max(0, o.tokenBytes - 'nnnnnn.nnn '.length));
  const samples = new Samples();
  /** @type {'warmup' | 'measure' | 'drain'} */
  let phase = 'warmup';
  let sent = 0;
  let received = 0;
  let events = 0;
  let errors = 0;
  let outstanding = 0;
  /** @type {() => void} */
  let drained = () => {};
  const sockets = [];

  for (const { agent } of o.pairs) {
    const socket = await connect(o.agentUrl, agent.token);
    socket.on('event', (/** @type {{ event_id: string, app_id: string }} */ event) => {
      for (let i = 0; i < o.tokens; i++) socket.emit('token', { event_id: event.event_id, app_id: event.app_id, token: `${stamp()} ${pad}` });
      sent += o.tokens;
      socket.emit('reply', { event_id: event.event_id, app_id: event.app_id, content: 'done', finish_reason: 'stop' });
    });
    socket.on('error_frame', () => errors++);
    sockets.push(socket);
  }
  for (const { app, agent } of o.pairs) {
    const socket = await connect(o.appUrl, app.token);
    const sendEvent = () => {
      outstanding++;
      events++;
      socket.emit('event', { agent_id: agent.id, thread_id: `bench:${app.id}:${events}`, payload: { n: events } });
    };
    socket.on('token', (/** @type {{ token: string }} */ frame) => {
      received++;
      if (phase === 'measure') samples.add(performance.now() - parseFloat(frame.token));
    });
    socket.on('reply', () => {
      outstanding--;
      if (phase !== 'drain') sendEvent();
      else if (outstanding === 0) drained();
    });
    socket.on('error_frame', () => errors++);
    sockets.push(socket);
    for (let i = 0; i < o.inflight; i++) sendEvent();
  }

  await new Promise((resolve) => setTimeout(resolve, o.warmupMs));
  o.onWindow?.('start');
  phase = 'measure';
  const start = performance.now();
  await new Promise((resolve) => setTimeout(resolve, o.durationMs));
  const seconds = (performance.now() - start) / 1000;
  phase = 'drain';
  o.onWindow?.('end');
  const frames = samples.length;
  await new Promise((resolve) => {
    const timer = setTimeout(resolve, 10_000);
    drained = () => {
      clearTimeout(timer);
      resolve(undefined);
    };
    if (outstanding === 0) drained();
  });
  for (const socket of sockets) socket.disconnect();
  const [p50, p99] = samples.percentiles([50, 99]);
  return { frames, seconds, framesPerSec: frames / seconds, p50: /** @type {number} */ (p50), p99: /** @type {number} */ (p99), sent, received, lost: sent - received, events, errors, unfinished: outstanding };
}

module.exports = { runSocketIo };
