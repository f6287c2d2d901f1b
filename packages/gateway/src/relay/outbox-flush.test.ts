import { OUTBOX_PIECE_BYTES, type HeldFinal } from '../ports';
import { fakeConnection, memoryBackend, relayOn, until } from '../testing/in-process';

// Issue 11.3: a connection that opens to a large outbox gets it a piece at a time, as fast as it
// reads. When it backs up, the rest waits in the outbox where it is: nothing taken is put back,
// and the node holds at most one piece.

test('a large outbox reaches a slow connection in pieces, none of it put back', async () => {
  const backend = memoryBackend();
  const size = 200 * 1024;
  const count = 30;
  for (let i = 0; i < count; i += 1) {
    const text = JSON.stringify({ type: 'reply', event_id: `evt_${i}`, content: 'x'.repeat(size) });
    await backend.outbox.put('portal', { eventId: `evt_${i}`, text, heldUntil: Date.now() + 60_000 });
  }
  let putBack = 0;
  const put = backend.outbox.put.bind(backend.outbox);
  backend.outbox.put = async (appId, final) => {
    putBack += 1;
    return put(appId, final);
  };
  const taken: HeldFinal[][] = [];
  const take = backend.outbox.take.bind(backend.outbox);
  backend.outbox.take = async (appId, now) => {
    const piece = await take(appId, now);
    taken.push(piece);
    return piece;
  };

  const { relay } = relayOn(backend);
  // a socket whose buffer fills after 3 frames and empties when the test says so
  const app = fakeConnection('n1.1', 'app', 'portal');
  let unread = 0;
  let drained: (() => void)[] = [];
  const keep = app.sendFinal;
  app.sendFinal = (eventId, text) => {
    unread += 1;
    return keep(eventId, text);
  };
  app.backedUp = () => unread >= 3;
  app.whenDrained = (fn) => drained.push(fn);
  const read = () => {
    unread = 0;
    const waiting = drained;
    drained = [];
    for (const fn of waiting) fn();
  };
  try {
    relay.opened(app);
    await until(() => app.frames.length >= 3);
    while (app.frames.length < count) {
      await until(() => drained.length > 0 || app.frames.length >= count);
      read();
      await until(() => unread > 0 || app.frames.length >= count);
    }
    expect(app.frames.map((f) => f.event_id)).toEqual(Array.from({ length: count }, (_, i) => `evt_${i}`));
    expect(putBack).toBe(0);
    for (const piece of taken) {
      expect(piece.slice(0, -1).reduce((sum, f) => sum + f.text.length, 0)).toBeLessThan(OUTBOX_PIECE_BYTES);
    }
    expect(await take('portal', Date.now())).toEqual([]);
  } finally {
    await relay.drain();
    await backend.close();
  }
});
