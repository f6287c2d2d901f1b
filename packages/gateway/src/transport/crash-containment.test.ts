import pino from 'pino';
import WebSocket from 'ws';
import { TOKENS, memoryBackend, relayOn, until } from '../testing/in-process';
import { createServer } from './server';

// A bug in handling one socket's frame must cost at most that socket: `guarded()` in server.ts
// closes it with 1011, and every other socket on the node carries on. Without it the exception
// escapes a uWS callback and takes the node down with all its sockets.

const POISON = '{"type":"ping","ref":"poison"}';

interface Client {
  ws: WebSocket;
  frames: Record<string, unknown>[];
  closed: Promise<number>;
}

function connect(port: number): Promise<Client> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/ws/app`, { headers: { Authorization: `Bearer ${TOKENS.portal}` } });
  const frames: Record<string, unknown>[] = [];
  ws.on('message', (data) => frames.push(JSON.parse(data.toString()) as Record<string, unknown>));
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, frames, closed }));
    ws.once('error', reject);
  });
}

/** The promise's value, or 'timed out' (and no timer left behind either way). */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timed out'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timed out'>((resolve) => (timer = setTimeout(resolve, ms, 'timed out')));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

test('a frame whose handling throws closes only its own socket, with 1011', async () => {
  const backend = memoryBackend();
  const { relay, metrics } = relayOn(backend);
  const log = pino({ level: 'silent' });
  const received = relay.received.bind(relay);
  relay.received = (conn, text) => {
    if (text === POISON) throw new Error('a bug in frame handling');
    received(conn, text);
  };
  const server = createServer({
    host: '127.0.0.1',
    port: 0,
    nodeId: 'n1',
    idleTimeoutS: 60,
    sseKeepaliveMs: 15_000,
    tokenDropBytes: 1024,
    maxBufferedBytes: 65_536,
    relay,
    log,
    metrics,
  });
  const port = await server.listen();
  // Were the exception to escape, it would surface here rather than as a missing close code.
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown) => uncaught.push(err);
  process.on('uncaughtException', onUncaught);
  const clients: Client[] = [];
  try {
    const victim = await connect(port);
    const bystander = await connect(port);
    clients.push(victim, bystander);

    victim.ws.send(POISON);
    expect(await within(victim.closed, 10_000)).toBe(1011);

    bystander.ws.send(JSON.stringify({ type: 'ping', ref: 'still-here' }));
    await until(() => bystander.frames.length > 0);
    expect(bystander.frames).toEqual([{ type: 'pong', ref: 'still-here' }]);
    expect(bystander.ws.readyState).toBe(WebSocket.OPEN);

    expect(uncaught).toEqual([]);
    const errors = (await metrics.backgroundErrors.get()).values;
    expect(errors).toEqual([expect.objectContaining({ labels: { task: 'socket_message' }, value: 1 })]);
  } finally {
    process.off('uncaughtException', onUncaught);
    await relay.drain(); // closes the remaining sockets with 1001
    await Promise.all(clients.map((c) => c.closed));
    server.stopListening();
    await backend.close();
  }
});
