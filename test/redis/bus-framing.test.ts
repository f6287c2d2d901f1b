import { Redis } from 'ioredis';
import { createRedisBus } from '../../packages/gateway/src/backends/redis/bus';
import { createKeys } from '../../packages/gateway/src/backends/redis/keys';
import { createRedisPresence } from '../../packages/gateway/src/backends/redis/presence';
import { scriptRunner } from '../../packages/gateway/src/backends/redis/scripts';
import type { BusMessage } from '../../packages/gateway/src/ports';
import { useRedisServer } from '../support/redis-server';

// The bus sends a node its batches as lines (backends/redis/bus-lines.ts) only once that node's
// liveness value says it reads them. In a rolling upgrade the nodes of the version before read
// only JSON arrays: sent lines, they would throw on every batch and hear nothing.
const server = useRedisServer();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const token = (nodeId: string, seq: number): BusMessage => ({
  kind: 'app-token',
  connId: `${nodeId}.1`,
  eventId: 'evt_1',
  text: `{"type":"token","event_id":"evt_1","token":"a \\"b\\"\\tc","seq":${seq},"attempt":1}`,
  attempt: 1,
  seq,
});

async function until(check: () => boolean, what: string) {
  for (let i = 0; !check(); i++) {
    if (i > 500) throw new Error(`timed out waiting until ${what}`);
    await sleep(10);
  }
}

test('a node of the version before is sent JSON arrays, one of this version lines, each every message once and in order', async () => {
  const keys = createKeys(`${server.redis.prefix}-framing`);
  const clients: Redis[] = [];
  const client = () => {
    const made = new Redis(server.redis.url);
    clients.push(made);
    return made;
  };
  const fail = (err: unknown) => {
    throw err;
  };
  const sender = createRedisBus(client(), client, keys, fail);
  const receiver = createRedisBus(client(), client, keys, fail);
  try {
    // The node of the version before: its liveness value is a timestamp, and it reads each batch
    // with JSON.parse, as that version's bus does.
    await server.client.set(keys.nodeAlive('old'), String(Date.now()), 'PX', 60_000);
    const oldWire: string[] = [];
    const oldNode = client();
    oldNode.on('smessage', (_channel: string, raw: string) => oldWire.push(raw));
    await oldNode.ssubscribe(keys.busChannel('old'));

    // This version's node: its own presence writes its liveness value; a plain subscriber on
    // its channel sees the batches as they cross.
    await createRedisPresence(server.client, scriptRunner(server.client), keys).heartbeat('new', 60_000);
    const heard: BusMessage[] = [];
    await receiver.subscribe('new', (m) => heard.push(m));
    const newWire: string[] = [];
    const observer = client();
    observer.on('smessage', (_channel: string, raw: string) => newWire.push(raw));
    await observer.ssubscribe(keys.busChannel('new'));

    const sent = { old: [] as BusMessage[], new: [] as BusMessage[] };
    for (let seq = 0; seq < 300; seq++) {
      for (const nodeId of ['old', 'new'] as const) {
        const message = token(nodeId, seq);
        sent[nodeId].push(message);
        sender.publish(nodeId, message);
      }
      if (seq % 10 === 9) await sleep(2);
    }
    await until(() => heard.length === 300 && oldWire.flatMap((raw) => JSON.parse(raw) as BusMessage[]).length === 300, 'both nodes heard all');

    expect(oldWire.every((raw) => raw.startsWith('['))).toBe(true);
    expect(oldWire.flatMap((raw) => JSON.parse(raw) as BusMessage[])).toEqual(sent.old);
    expect(heard).toEqual(sent.new);
    // JSON until the sender has read the node's liveness value, lines from then on.
    const firstLines = newWire.findIndex((raw) => raw.startsWith('t\t'));
    expect(firstLines).toBeGreaterThanOrEqual(0);
    expect(newWire.slice(firstLines).every((raw) => !raw.startsWith('['))).toBe(true);

    // And a batch from a node of the version before, a JSON array, is read by this version's.
    const fromOld = [token('new', 300), { kind: 'probe', sentAt: 5 } as BusMessage];
    await server.client.spublish(keys.busChannel('new'), JSON.stringify(fromOld));
    await until(() => heard.length === 302, 'the JSON array was heard');
    expect(heard.slice(300)).toEqual(fromOld);
  } finally {
    await sender.close();
    await receiver.close();
    for (const c of clients) c.disconnect();
  }
});
