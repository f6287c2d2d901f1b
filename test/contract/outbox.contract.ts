import type { HeldFinal, Outbox, OutboxDropReason } from '../../packages/gateway/src/ports';

export interface OutboxUnderTest {
  outbox: Outbox;
  /** Held frames per app at most, as the outbox was made. */
  maxPerApp: number;
  /** Every drop the outbox reported, in order. */
  drops: { appId: string; eventId: string; reason: OutboxDropReason }[];
  /** Another node's outbox on the same backend, for a backend that several nodes share. */
  peer?: () => Outbox;
  teardown(): Promise<void>;
}

let counter = 0;

function final(heldFor = 60_000): HeldFinal {
  counter += 1;
  const eventId = `evt_outbox_${counter}`;
  return { eventId, text: JSON.stringify({ type: 'reply', event_id: eventId, content: `answer ${counter}` }), heldUntil: Date.now() + heldFor };
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
  });
}
