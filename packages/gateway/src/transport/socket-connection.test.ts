import { SocketConnection, type SocketData } from './socket-connection';
import type { WebSocket } from './uws';

// A socket's frames, tokens and control frames alike, leave in one cork per turn of the event
// loop (one write to the kernel), in the order they were sent; a final not known to have left
// when the socket closes is handed back, written or not.

/** What the connection does to its uWS socket: each cork's frames, and how many bytes stay buffered. */
function fakeSocket(limits = { tokenDropBytes: 1e6, maxBufferedBytes: 2e6 }, onOverflow = () => {}) {
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
  const conn = new SocketConnection(ws as unknown as WebSocket<SocketData>, data, limits, onOverflow);
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

test("frames queued by the turn's later callbacks and promise continuations join the same cork", async () => {
  const { corks, conn } = fakeSocket();
  // As when one Redis read answers several events' steps: each one's frame is queued a few
  // promise continuations after the one before, and a later callback of the turn adds more.
  const later = (n: number, work: () => void): Promise<void> => (n === 0 ? Promise.resolve().then(work) : Promise.resolve().then(() => later(n - 1, work)));
  const steps = [later(1, () => conn.send('accepted 1', 'control')), later(4, () => conn.send('accepted 2', 'control'))];
  setImmediate(() => conn.send('accepted 3', 'control')); // a callback of the turn, before its end
  await Promise.all(steps);
  expect(corks).toEqual([]);
  await turnEnd();
  await turnEnd();
  expect(corks).toEqual([['accepted 1', 'accepted 2', 'accepted 3']]);
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

// Frames larger than the token drop limit are written at once: several of them in one turn (an
// outbox's piece) must not pass RELAY_MAX_BUFFERED_BYTES unwritten and close a socket whose
// kernel buffer would have taken them all.
test('large frames are written at once, in order, and several in one turn close no socket that takes them', () => {
  let overflows = 0;
  const { ws, corks, conn } = fakeSocket({ tokenDropBytes: 100, maxBufferedBytes: 1_000 }, () => (overflows += 1));
  conn.send('small', 'control');
  expect(corks).toEqual([]);
  conn.send('x'.repeat(150), 'control');
  expect(corks).toEqual([['small', 'x'.repeat(150)]]);
  for (let i = 0; i < 5; i += 1) expect(conn.sendFinal(`e${i}`, 'y'.repeat(400))).toBe(true);
  expect(corks).toHaveLength(6);
  expect(overflows).toBe(0);

  // uWS kept what the kernel would not take: past the limit, the socket is closed
  ws.buffered = 1_200;
  expect(conn.send('z', 'control')).toBe(false);
  expect(overflows).toBe(1);
});

test('a large final written at once into an empty buffer has left: it is not handed back at the close', () => {
  const { ws, conn } = fakeSocket({ tokenDropBytes: 100, maxBufferedBytes: 1_000 });
  conn.sendFinal('e1', 'y'.repeat(400));
  ws.buffered = 100;
  conn.sendFinal('e2', 'y'.repeat(400));
  expect(conn.markClosed()).toEqual([{ eventId: 'e2', text: 'y'.repeat(400) }]);
});

// A caller writing several frames in one turn sees the queued ones as backed up at once, and one
// waiting on frames only queued must not wait for a drain that uWS never sends (it took them).
test('frames queued in this turn count as backed up; a wait on them alone ends once they are written', async () => {
  const { ws, conn } = fakeSocket({ tokenDropBytes: 100, maxBufferedBytes: 1_000 });
  ws.buffered = 60;
  conn.send('x'.repeat(50), 'control');
  expect(conn.backedUp()).toBe(true);
  let waited = 0;
  conn.whenDrained(() => (waited += 1));
  await turnEnd();
  await turnEnd();
  expect(waited).toBe(1);
  expect(conn.backedUp()).toBe(false);

  // written, and uWS kept them: the wait ends at its drain, once under the limit
  ws.buffered = 150;
  conn.whenDrained(() => (waited += 1));
  await turnEnd();
  expect(waited).toBe(1);
  ws.buffered = 50;
  conn.drained();
  await turnEnd();
  expect(waited).toBe(2);
});
