import { OUTBOX_PIECE_BYTES, type HeldFinal } from '../ports';
import { fakeConnection, memoryBackend, relayOn, until, type FakeConnection } from '../testing/in-process';
import { finalTo, flushOutbox, rerouteFinal } from './finals';

// Issue 11.3: a connection that opens to a large outbox gets it a piece at a time, as fast as it
// reads. When it backs up, the rest waits in the outbox where it is: nothing taken is put back,
// and the node holds at most one piece.

const SIZE = 200 * 1024;
const COUNT = 30;
const held = (i: number) => ({ eventId: `evt_${i}`, text: JSON.stringify({ type: 'reply', event_id: `evt_${i}`, content: 'x'.repeat(SIZE) }) });

/** An outbox of COUNT big finals, and a record of what each take returned and each put held. */
async function backlog() {
  const backend = memoryBackend();
  for (let i = 0; i < COUNT; i += 1) await backend.outbox.put('portal', { ...held(i), heldUntil: Date.now() + 60_000 });
  const puts: string[] = [];
  const put = backend.outbox.put.bind(backend.outbox);
  backend.outbox.put = async (appId, final) => {
    puts.push(final.eventId);
    return put(appId, final);
  };
  const taken: HeldFinal[][] = [];
  const take = backend.outbox.take.bind(backend.outbox);
  backend.outbox.take = async (appId, now) => {
    const piece = await take(appId, now);
    taken.push(piece);
    return piece;
  };
  return { backend, puts, taken, take };
}

/**
 * An app socket whose buffer fills after 3 frames and empties when the test reads it. `most`:
 * the most frames it was ever written without a read.
 */
function slowReader(): { app: FakeConnection; read(): void; waiting(): boolean; most(): number } {
  const app = fakeConnection('n1.1', 'app', 'portal');
  let unread = 0;
  let most = 0;
  let drained: (() => void)[] = [];
  const keep = app.sendFinal;
  app.sendFinal = (eventId, text) => {
    unread += 1;
    most = Math.max(most, unread);
    return keep(eventId, text);
  };
  app.backedUp = () => unread >= 3;
  app.whenDrained = (fn) => drained.push(fn);
  return {
    app,
    read() {
      unread = 0;
      const waiting = drained;
      drained = [];
      for (const fn of waiting) fn();
    },
    waiting: () => drained.length > 0,
    most: () => most,
  };
}

/** Reads whenever the socket waits, until it has `count` frames. */
async function readAll(reader: ReturnType<typeof slowReader>, count: number): Promise<void> {
  while (reader.app.frames.length < count) {
    await until(() => reader.waiting() || reader.app.frames.length >= count);
    reader.read();
  }
}

test('a large outbox reaches a slow connection in pieces, none of it put back', async () => {
  const { backend, puts, taken, take } = await backlog();
  const { relay } = relayOn(backend);
  const reader = slowReader();
  try {
    relay.opened(reader.app);
    await readAll(reader, COUNT);
    expect(reader.app.frames.map((f) => f.event_id)).toEqual(Array.from({ length: COUNT }, (_, i) => `evt_${i}`));
    expect(puts).toEqual([]);
    for (const piece of taken) {
      expect(piece.slice(0, -1).reduce((sum, f) => sum + f.text.length, 0)).toBeLessThan(OUTBOX_PIECE_BYTES);
    }
    expect(await take('portal', Date.now())).toEqual([]);
  } finally {
    await relay.drain();
    await backend.close();
  }
});

// A reroute that finds the connection late, or the liveness beat, asks for a flush while one
// runs. Two flushes would each write a piece before either saw the buffer fill: on a real socket,
// past RELAY_MAX_BUFFERED_BYTES, closing with 1013 a connection that reads as fast as it can.
test('a flush asked for while one runs does not write a second piece beside it', async () => {
  const { backend, taken } = await backlog();
  const { relay, ctx } = relayOn(backend);
  const reader = slowReader();
  try {
    relay.opened(reader.app);
    await until(() => reader.waiting());
    await flushOutbox(ctx, reader.app.id, 'portal');
    await flushOutbox(ctx, reader.app.id, 'portal');
    await readAll(reader, COUNT);
    const piece = Math.max(...taken.map((p) => p.length));
    expect(piece).toBeLessThan(COUNT / 2);
    // a piece is taken only while fewer than 3 frames are unread
    expect(reader.most()).toBeLessThanOrEqual(2 + piece);
    expect(reader.app.frames.map((f) => f.event_id)).toEqual(Array.from({ length: COUNT }, (_, i) => `evt_${i}`));
  } finally {
    await relay.drain();
    await backend.close();
  }
});

test('a final for a connection still taking its outbox waits behind that backlog', async () => {
  const { backend, puts, taken } = await backlog();
  const { relay, ctx } = relayOn(backend);
  const reader = slowReader();
  try {
    relay.opened(reader.app);
    await until(() => reader.waiting());
    const live = held(COUNT);
    const written = reader.app.frames.length;
    expect(await finalTo(ctx, { connId: reader.app.id, nodeId: ctx.nodeId }, { appId: 'portal', ...live })).toBe(true);
    expect(reader.app.frames.length).toBe(written);
    expect(puts).toEqual([live.eventId]);
    await readAll(reader, COUNT + 1);
    expect(reader.most()).toBeLessThanOrEqual(2 + Math.max(...taken.map((p) => p.length)));
    expect(reader.app.frames.map((f) => f.event_id)).toEqual(Array.from({ length: COUNT + 1 }, (_, i) => `evt_${i}`));

    // Its outbox emptied, the connection takes finals as they come.
    reader.read();
    const next = held(COUNT + 1);
    expect(await finalTo(ctx, { connId: reader.app.id, nodeId: ctx.nodeId }, { appId: 'portal', ...next })).toBe(true);
    expect(reader.app.frames.at(-1)?.event_id).toBe(next.eventId);
    expect(puts).toEqual([live.eventId]);
  } finally {
    await relay.drain();
    await backend.close();
  }
});

// A closed socket's unflushed finals are handed back one after another. Written as they come to
// the app's other connection, a burst of large ones would pass RELAY_MAX_BUFFERED_BYTES on a real
// socket before its reader could take them, closing with 1013 a connection that keeps up.
test('finals rerouted from a connection that is gone reach another through its outbox, paced by its reads', async () => {
  const backend = memoryBackend();
  const { relay, ctx } = relayOn(backend);
  const reader = slowReader();
  try {
    relay.opened(reader.app);
    await until(() => !ctx.outboxFlushes.has(reader.app.id)); // its (empty) outbox taken
    for (let i = 0; i < COUNT; i += 1) await rerouteFinal(ctx, { appId: 'portal', ...held(i) }, 'n1.gone');
    expect(reader.most()).toBeLessThan(COUNT / 2);
    await readAll(reader, COUNT);
    expect(reader.app.frames.map((f) => f.event_id)).toEqual(Array.from({ length: COUNT }, (_, i) => `evt_${i}`));
  } finally {
    await relay.drain();
    await backend.close();
  }
});

// A piece is sized by the finals as stored, and on the wire a reply carries its content twice: a
// piece written at once passed RELAY_MAX_BUFFERED_BYTES by itself, and the connection the flush
// paces was closed with 1013 (conformance/backpressure, at random under load). Each final waits
// for the connection to take the ones before it.
test("no final of a piece is written while the connection is backed up", async () => {
  const { backend, taken } = await backlog();
  const { relay } = relayOn(backend);
  const reader = slowReader();
  try {
    relay.opened(reader.app);
    await readAll(reader, COUNT);
    expect(Math.max(...taken.map((p) => p.length))).toBeGreaterThan(3); // pieces larger than what it takes at once
    expect(reader.most()).toBe(3); // it backs up at 3 unread
    expect(reader.app.frames.map((f) => f.event_id)).toEqual(Array.from({ length: COUNT }, (_, i) => `evt_${i}`));
  } finally {
    await relay.drain();
    await backend.close();
  }
});

test('a connection that closes while its flush waits hands what is left of the piece on', async () => {
  const { backend } = await backlog();
  const { relay } = relayOn(backend);
  const reader = slowReader();
  try {
    relay.opened(reader.app);
    await until(() => reader.waiting());
    const first = reader.app.frames.map((f) => f.event_id);
    relay.closed(reader.app, []);
    const next = fakeConnection('n1.2', 'app', 'portal');
    relay.opened(next);
    await until(() => first.length + next.frames.length >= COUNT);
    const all = [...first, ...next.frames.map((f) => f.event_id)];
    expect(all.sort()).toEqual(Array.from({ length: COUNT }, (_, i) => `evt_${i}`).sort());
  } finally {
    await relay.drain();
    await backend.close();
  }
});
