import { SocketConnection, type SocketData } from './socket-connection';
import type { WebSocket } from './uws';

// A socket's frames, tokens and control frames alike, leave in one cork per turn of the event
// loop (one write to the kernel), in the order they were sent; a final not known to have left
// when the socket closes is handed back, written or not.

/** What the connection does to its uWS socket: each cork's frames, and how many bytes stay buffered. */
function fakeSocket() {
  const corks: string[][] = [];
  let inCork: string[] | undefined;
  const ws = {
    buffered: 0,
    cork(write: () => void) {
      inCork = [];
      write();
      corks.push(inCork);
      inCork = undefined;
    },
    send(text: string) {
      if (!inCork) throw new Error('written outside a cork');
      inCork.push(text);
      return 1;
    },
    getBufferedAmount() {
      return ws.buffered;
    },
    end() {},
  };
  const data: SocketData = { role: 'app', principal: { role: 'app', id: 'portal', tokenId: 't' }, connId: 'c1', since: 0 };
  const conn = new SocketConnection(ws as unknown as WebSocket<SocketData>, data, { tokenDropBytes: 1e6, maxBufferedBytes: 2e6 }, () => {});
  return { ws, corks, conn };
}

const turnEnd = () => new Promise<void>((resolve) => setImmediate(resolve));

test("a turn's frames, control and token alike, leave in one cork, in order", async () => {
  const { corks, conn } = fakeSocket();
  conn.send('accepted 1', 'control');
  conn.send('token 1', 'token');
  conn.sendFinal('e1', '{"type":"reply","event_id":"e1"}');
  conn.send('accepted 2', 'control');
  expect(corks).toEqual([]); // nothing written before the turn ends
  await turnEnd();
  expect(corks).toHaveLength(1);
  expect(corks[0]).toHaveLength(4);
  expect(corks[0]?.[0]).toBe('accepted 1');
  expect(corks[0]?.[1]).toBe('token 1');
  expect(corks[0]?.[3]).toBe('accepted 2');
  conn.send('accepted 3', 'control');
  await turnEnd();
  expect(corks).toHaveLength(2);
});

test('a final queued but not yet written when the socket closes is handed back', () => {
  const { corks, conn } = fakeSocket();
  conn.sendFinal('e1', 'final 1');
  expect(conn.markClosed()).toEqual([{ eventId: 'e1', text: 'final 1' }]);
  expect(corks).toEqual([]);
});

test('a written final is handed back while bytes stay buffered, and forgotten once a write finds the buffer empty', async () => {
  const { ws, conn } = fakeSocket();
  ws.buffered = 100;
  conn.sendFinal('e1', 'final 1');
  conn.sendFinal('e2', 'final 2');
  await turnEnd();
  expect(conn.markClosed()).toEqual([
    { eventId: 'e1', text: 'final 1' },
    { eventId: 'e2', text: 'final 2' },
  ]);

  const other = fakeSocket();
  other.ws.buffered = 100;
  other.conn.sendFinal('e1', 'final 1');
  await turnEnd();
  other.ws.buffered = 0; // everything so far has left
  other.conn.send('pong', 'control');
  await turnEnd();
  expect(other.conn.markClosed()).toEqual([]);
});

test('closing writes what was queued before the close', () => {
  const { corks, conn } = fakeSocket();
  conn.send('error', 'control');
  conn.close(1008, 'bye');
  expect(corks).toEqual([['error']]);
});
