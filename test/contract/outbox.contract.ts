import { OUTBOX_PIECE_BYTES, OUTBOX_PIECE_FRAMES, type HeldFinal, type Outbox, type OutboxDropReason } from '../../packages/gateway/src/ports';

export interface OutboxUnderTest {
  outbox: Outbox;
  /** Held frames per app at most, as the outbox was made: over 2 × OUTBOX_PIECE_FRAMES. */
  maxPerApp: number;
  /** Every drop the outbox reported, in order. */
  drops: { appId: string; eventId: string; reason: OutboxDropReason }[];
  /** Another node's outbox on the same backend, for a backend that several nodes share. */
  peer?: () => Outbox;
  teardown(): Promise<void>;
}

let counter = 0;

function final(heldFor = 60_000, answerBytes = 0): HeldFinal {
  counter += 1;
  const eventId = `evt_outbox_${counter}`;
  const content = answerBytes > 0 ? 'x'.repeat(answerBytes) : `answer ${counter}`;
  return { eventId, text: JSON.stringify({ type: 'reply', event_id: eventId, content }), heldUntil: Date.now() + heldFor };
}

/** Every piece `take` hands over until the outbox is empty. */
async function pieces(outbox: Outbox, appId: string): Promise<HeldFinal[][]> {
  const all: HeldFinal[][] = [];
  for (let piece = await outbox.take(appId, Date.now()); piece.length > 0; piece = await outbox.take(appId, Date.now())) all.push(piece);
  return all;
}

/**
 * Everything held for an app, as connections take it: `take` may hand it over in pieces, so this
 * takes until nothing is left (bounded, so an outbox that never empties fails the test).
 */
async function takeAll(outbox: Outbox, appId: string, now = Date.now()): Promise<HeldFinal[]> {
  const all: HeldFinal[] = [];
  for (let i = 0; i < 1_000; i++) {
    const piece = await outbox.take(appId, now);
    if (piece.length === 0) return all;
    all.push(...piece);
  }
  throw new Error('take never ran dry');
}

/**
 * Outbox (ports/outbox.ts): final frames are held per app until one of its connections takes
 * them or `heldUntil` passes; `take` removes what it returns, so no frame reaches two
 * connections. A frame dropped (the app's outbox full, or held too long) is reported.
 */
export function outboxContract(name: string, create: () => Promise<OutboxUnderTest>) {
  describe(`Outbox contract (${name})`, () => {
    let under: OutboxUnderTest;
    beforeEach(async () => {
      under = await create();
    });
    afterEach(async () => under.teardown());

    test("held frames are taken oldest first, by their app only, and once", async () => {
      const held = [final(), final(), final()];
      for (const f of held) await under.outbox.put('portal', f);
      const other = final();
      await under.outbox.put('academy', other);

      expect(await takeAll(under.outbox, 'portal')).toEqual(held);
      expect(await under.outbox.take('portal', Date.now())).toEqual([]);
      expect(await takeAll(under.outbox, 'academy')).toEqual([other]);
      expect(under.drops).toEqual([]);
    });

    test('connections taking at once: each frame reaches exactly one of them', async () => {
      const held = Array.from({ length: under.maxPerApp }, () => final());
      for (const f of held) await under.outbox.put('portal', f);
      const takers = [under.outbox, ...(under.peer ? [under.peer(), under.peer(), under.peer()] : [under.outbox, under.outbox])];
      const taken = await Promise.all(takers.map((t) => takeAll(t, 'portal')));
      const ids = taken.flat().map((f) => f.eventId);
      expect(ids.sort()).toEqual(held.map((f) => f.eventId).sort());
      // each connection gets its share in the order it was held
      for (const piece of taken) {
        const order = piece.map((f) => held.findIndex((h) => h.eventId === f.eventId));
        expect(order).toEqual([...order].sort((a, b) => a - b));
      }
    });

    test('a frame past heldUntil is not handed over, and is reported expired', async () => {
      const stale = final(-1);
      const live = final();
      await under.outbox.put('portal', stale);
      await under.outbox.put('portal', live);
      expect(await takeAll(under.outbox, 'portal')).toEqual([live]);
      expect(under.drops).toEqual([{ appId: 'portal', eventId: stale.eventId, reason: 'expired' }]);
    });

    test('past the cap the oldest frames are dropped and reported full; the newest are kept', async () => {
      const cap = under.maxPerApp;
      const held = Array.from({ length: cap + 2 }, () => final());
      for (const f of held) await under.outbox.put('portal', f);
      expect(under.drops).toEqual(held.slice(0, 2).map((f) => ({ appId: 'portal', eventId: f.eventId, reason: 'full' })));
      expect(await takeAll(under.outbox, 'portal')).toEqual(held.slice(2));
      // another app's outbox has its own cap
      await under.outbox.put('academy', final());
      expect(under.drops).toHaveLength(2);
    });

    // Issue 11.3: a large outbox is handed over a piece at a time, and what is not taken stays.
    test('large outboxes are taken in pieces of bounded size; a frame larger than a piece ends its piece', async () => {
      const medium = Array.from({ length: 10 }, () => final(60_000, Math.floor(OUTBOX_PIECE_BYTES / 3)));
      const huge = final(60_000, OUTBOX_PIECE_BYTES * 2);
      const small = Array.from({ length: OUTBOX_PIECE_FRAMES + 5 }, () => final());
      for (const f of [...medium, huge, ...small]) await under.outbox.put('portal', f);
      const taken = await pieces(under.outbox, 'portal');
      expect(taken.flat()).toEqual([...medium, huge, ...small]);
      for (const piece of taken) {
        expect(piece.length).toBeLessThanOrEqual(OUTBOX_PIECE_FRAMES);
        // the frames before the last of a piece stay under the bound
        expect(piece.slice(0, -1).reduce((sum, f) => sum + f.text.length, 0)).toBeLessThan(OUTBOX_PIECE_BYTES);
      }
      expect(taken.find((p) => p.some((f) => f.eventId === huge.eventId))?.at(-1)?.eventId).toBe(huge.eventId);
      expect(taken.length).toBeGreaterThan(5);
    });

    test('taking a piece leaves the rest for the next take, untouched and in order', async () => {
      const held = Array.from({ length: OUTBOX_PIECE_FRAMES * 2 }, () => final());
      for (const f of held) await under.outbox.put('portal', f);
      expect(await under.outbox.take('portal', Date.now())).toEqual(held.slice(0, OUTBOX_PIECE_FRAMES));
      const late = final();
      await under.outbox.put('portal', late);
      expect(await takeAll(under.outbox, 'portal')).toEqual([...held.slice(OUTBOX_PIECE_FRAMES), late]);
    });

    test('a piece of expired frames only is not an empty answer while live frames remain', async () => {
      const stale = Array.from({ length: OUTBOX_PIECE_FRAMES + 3 }, () => final(-1));
      const live = final();
      for (const f of [...stale, live]) await under.outbox.put('portal', f);
      expect(await under.outbox.take('portal', Date.now())).toEqual([live]);
      expect(under.drops.map((d) => d.eventId)).toEqual(stale.map((f) => f.eventId));
    });
  });
}
