/**
 * Reconnect timing and when the clients give up, against a closed port and a scripted relay.
 * Delays are made short (initialMs 100) instead of waiting 2 s, 4 s, 8 s; the default schedule
 * itself is checked exactly in packages/sdk/src/backoff.test.ts.
 */
import net from 'node:net';
import { createAgentClient, createAppClient, type AgentClient, type AppClient } from '@relay/sdk';
import { ScriptedRelay } from './support/scripted-relay';
import { nextState, recordStates, sleep, until } from './support/sdk-helpers';

const clients: (AppClient | AgentClient)[] = [];
let relay: ScriptedRelay | undefined;
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await relay?.close();
  relay = undefined;
});

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const app = (url: string, backoff: object = {}) => {
  const client = createAppClient({ url, token: 'rlk_portal_x', backoff: { initialMs: 100, maxMs: 800, jitter: 0.2, ...backoff } });
  clients.push(client);
  return client;
};

test('nothing listening: retries after 100, 200, 400, 800, 800 ms (±20 % jitter), and really waits that long', async () => {
  const client = app(`ws://127.0.0.1:${await closedPort()}`);
  const states = recordStates(client);
  const retries = () => states.filter((s) => s.state === 'reconnecting');
  await until(() => retries().length >= 6, 10_000, 'six failed attempts');
  const nominal = [100, 200, 400, 800, 800, 800];
  retries().slice(0, 6).forEach((s, i) => {
    expect(s.attempt).toBe(i + 1);
    expect(s.delayMs).toBeGreaterThanOrEqual(nominal[i]! * 0.8);
    expect(s.delayMs).toBeLessThanOrEqual(Math.min(nominal[i]! * 1.2, 800));
  });
  // each attempt started no sooner than its delay, and not much later (generous bound)
  for (let i = 0; i < states.length - 1; i++) {
    const s = states[i]!;
    if (s.state !== 'reconnecting') continue;
    const next = states[i + 1]!;
    expect(next.state).toBe('connecting');
    expect(next.at - s.at).toBeGreaterThanOrEqual((s.delayMs as number) - 5);
    expect(next.at - s.at).toBeLessThan((s.delayMs as number) + 500);
  }
});

test('the jitter source is injectable: delays are exact with random() = 0.5', async () => {
  const client = createAppClient({ url: `ws://127.0.0.1:${await closedPort()}`, token: 'rlk_portal_x', backoff: { initialMs: 30, maxMs: 1000 }, random: () => 0.5 });
  clients.push(client);
  const states = recordStates(client);
  await until(() => states.filter((s) => s.state === 'reconnecting').length >= 4, 5_000, 'four failed attempts');
  expect(states.filter((s) => s.state === 'reconnecting').slice(0, 4).map((s) => s.delayMs)).toEqual([30, 60, 120, 240]);
});

test('a relay that accepts and at once closes (1013) is not hammered: the delay keeps growing', async () => {
  relay = await ScriptedRelay.start();
  relay.onConnection = (conn) => conn.ws.close(1013, 'overloaded');
  const client = app(relay.url, { jitter: 0 });
  const states = recordStates(client);
  await until(() => states.filter((s) => s.state === 'reconnecting').length >= 3, 5_000, 'three closes');
  const retries = states.filter((s) => s.state === 'reconnecting').slice(0, 3);
  expect(retries.map((s) => [s.code, s.reason, s.delayMs])).toEqual([
    [1013, 'overloaded', 100],
    [1013, 'overloaded', 200],
    [1013, 'overloaded', 400],
  ]);
});

test('after a connection that stayed up resetAfterMs, the next drop starts again at initialMs', async () => {
  relay = await ScriptedRelay.start();
  relay.onConnection = (conn, index) => {
    if (index < 2) conn.ws.close(1001, 'going away'); // two quick drops: 100, then 200
    else setTimeout(() => conn.ws.close(1001, 'going away'), 300); // a healthy one
  };
  const client = app(relay.url, { jitter: 0, resetAfterMs: 200 });
  const states = recordStates(client);
  await until(() => states.filter((s) => s.state === 'reconnecting').length >= 3, 5_000, 'three drops');
  expect(states.filter((s) => s.state === 'reconnecting').slice(0, 3).map((s) => s.delayMs)).toEqual([100, 200, 100]);
});

test('HTTP 401 at the upgrade: the client stops at once with UNAUTHORIZED, and pending work rejects', async () => {
  relay = await ScriptedRelay.start();
  relay.refuseWith = 401;
  const client = app(relay.url);
  const sending = client.send('athena', 'portal:t', {});
  await expect(client.opened()).rejects.toMatchObject({ code: 'UNAUTHORIZED', retryable: false });
  await expect(sending).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
  expect(client.state).toBe('closed');
  await sleep(300);
  expect(relay.attempts).toBe(1);
});

test('HTTP 503 and 429 at the upgrade are retried with backoff', async () => {
  relay = await ScriptedRelay.start();
  relay.refuseWith = 503;
  const client = app(relay.url, { jitter: 0 });
  const states = recordStates(client);
  await until(() => states.some((s) => s.state === 'reconnecting'), 5_000, 'a retry');
  relay.refuseWith = 429;
  await until(() => states.filter((s) => s.state === 'reconnecting').length >= 2, 5_000, 'a second retry');
  relay.refuseWith = undefined;
  await client.opened();
  expect(states.filter((s) => s.state === 'reconnecting').map((s) => s.reason)).toEqual(['HTTP 503', 'HTTP 429']);
});

test('close code 1008 (token revoked) stops an agent client: closed with UNAUTHORIZED, no reconnect', async () => {
  relay = await ScriptedRelay.start();
  relay.onConnection = (conn) => conn.ws.close(1008, 'Token revoked');
  const agent = createAgentClient({ url: relay.url, token: 'rla_athena_x', backoff: { initialMs: 50 } });
  clients.push(agent);
  const closed = await nextState(agent, 'closed');
  expect(closed.error).toMatchObject({ code: 'UNAUTHORIZED', message: expect.stringContaining('1008 Token revoked') });
  await sleep(200);
  expect(relay.connections).toHaveLength(1);
});

test('close() while waiting to reconnect cancels the retry', async () => {
  const client = app(`ws://127.0.0.1:${await closedPort()}`, { initialMs: 300 });
  await nextState(client, 'reconnecting');
  const states = recordStates(client);
  await client.close();
  await sleep(500);
  expect(states.map((s) => s.state)).toEqual(['closed']);
});
