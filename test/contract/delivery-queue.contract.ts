import type { DeliveryQueue, QueueEntry } from '@relay/gateway';

/**
 * The DeliveryQueue contract (ports/delivery-queue.ts), runnable against any backend. Times are
 * real: "past" and "far future" instants stand in for a clock, so no backend needs a fake one.
 */
export function deliveryQueueContract(name: string, create: () => Promise<{ queue: DeliveryQueue; teardown(): Promise<void> }>) {
  describe(`DeliveryQueue contract (${name})`, () => {
    let queue: DeliveryQueue;
    let teardown: () => Promise<void>;
    let order = 0;
    const FAR = Date.now() + 3_600_000;

    const entry = (eventId: string, sessionKey: string, extra: Partial<QueueEntry> = {}): QueueEntry => ({
      eventId,
      agentId: 'athena',
      sessionKey,
      order: ++order,
      notBefore: 0,
      expiresAt: FAR,
      ...extra,
    });
    const slot = (connId: string, maxInFlight = 10) => ({ connId, nodeId: 'n1', maxInFlight });
    const ids = (r: { assigned: { eventId: string }[] }) => r.assigned.map((a) => a.eventId);

    beforeEach(async () => {
      ({ queue, teardown } = await create());
    });
    afterEach(async () => teardown());

    test('with no connection, events wait; attaching one assigns them in accept order as attempt 1', async () => {
      for (const id of ['e1', 'e2', 'e3']) expect((await queue.enqueue(entry(id, `s-${id}`))).assigned).toEqual([]);
      expect(await queue.waiting('athena')).toBe(3);
      const result = await queue.attach('athena', slot('c1'));
      expect(result.assigned).toEqual([
        { eventId: 'e1', agentId: 'athena', connId: 'c1', nodeId: 'n1', attempt: 1, seq: 1 },
        { eventId: 'e2', agentId: 'athena', connId: 'c1', nodeId: 'n1', attempt: 1, seq: 2 },
        { eventId: 'e3', agentId: 'athena', connId: 'c1', nodeId: 'n1', attempt: 1, seq: 3 },
      ]);
      expect(await queue.waiting('athena')).toBe(0);
    });

    test("a session's events stay on the connection holding it; new sessions go to the least loaded", async () => {
      await queue.attach('athena', slot('c1'));
      await queue.attach('athena', slot('c2'));
      const a1 = (await queue.enqueue(entry('a1', 'sA'))).assigned[0];
      const b1 = (await queue.enqueue(entry('b1', 'sB'))).assigned[0];
      expect(a1?.connId).not.toBe(b1?.connId); // spread: the second session takes the idle connection
      for (const id of ['a2', 'a3', 'a4']) {
        expect((await queue.enqueue(entry(id, 'sA'))).assigned[0]?.connId).toBe(a1?.connId);
      }
    });

    test('no connection holds more than maxInFlight; removing an answered event frees its place', async () => {
      await queue.attach('athena', slot('c1', 2));
      const first = await Promise.all(['e1', 'e2', 'e3'].map((id) => queue.enqueue(entry(id, `s-${id}`))));
      expect(first.flatMap(ids)).toEqual(['e1', 'e2']);
      expect(await queue.waiting('athena')).toBe(1);
      const removed = await queue.remove('athena', 'e1', false);
      expect(removed.was).toBe('in-flight');
      expect(removed.connId).toBe('c1');
      expect(ids(removed)).toEqual(['e3']);
    });

    test("a session blocked on its full holder does not overtake; other sessions still go", async () => {
      await queue.attach('athena', slot('c1', 1));
      expect(ids(await queue.enqueue(entry('a1', 'sA')))).toEqual(['a1']);
      await queue.attach('athena', slot('c2', 5));
      expect(ids(await queue.enqueue(entry('a2', 'sA')))).toEqual([]); // sA is held by the full c1
      const b1 = await queue.enqueue(entry('b1', 'sB'));
      expect(b1.assigned).toMatchObject([{ eventId: 'b1', connId: 'c2' }]);
      expect(ids(await queue.remove('athena', 'a1', false))).toEqual(['a2']);
    });

    test('detach hands unanswered events back ahead of later ones, as attempt 2, in accept order', async () => {
      await queue.attach('athena', slot('c1'));
      await queue.enqueue(entry('a1', 'sA'));
      await queue.enqueue(entry('a2', 'sA'));
      await queue.remove('athena', 'a1', false); // answered: must not come back
      const detached = await queue.detach('athena', 'c1');
      expect(detached.assigned).toEqual([]);
      expect(await queue.waiting('athena')).toBe(1);
      await queue.enqueue(entry('a3', 'sA'));
      const attached = await queue.attach('athena', slot('c2'));
      expect(attached.assigned.map((a) => [a.eventId, a.attempt, a.connId])).toEqual([
        ['a2', 2, 'c2'],
        ['a3', 1, 'c2'],
      ]);
    });

    test('detach ends handed-back events already past their expiry instead of queueing them', async () => {
      await queue.attach('athena', slot('c1'));
      await queue.enqueue(entry('short', 'sA', { expiresAt: Date.now() + 50 }));
      await queue.enqueue(entry('long', 'sB'));
      await new Promise((resolve) => setTimeout(resolve, 80));
      const detached = await queue.detach('athena', 'c1');
      expect(detached.expired).toEqual(['short']);
      expect(await queue.waiting('athena')).toBe(1);
      expect((await queue.remove('athena', 'short', false)).was).toBeNull();
    });

    test('detach reassigns at once to another attached connection', async () => {
      await queue.attach('athena', slot('c1'));
      await queue.enqueue(entry('a1', 'sA'));
      await queue.attach('athena', slot('c2'));
      const detached = await queue.detach('athena', 'c1');
      expect(detached.assigned).toMatchObject([{ eventId: 'a1', connId: 'c2', attempt: 2 }]);
    });

    test('an event held by notBefore waits, and holds back later events of its session only', async () => {
      await queue.attach('athena', slot('c1'));
      expect(ids(await queue.enqueue(entry('a1', 'sA', { notBefore: FAR })))).toEqual([]);
      expect(ids(await queue.enqueue(entry('a2', 'sA')))).toEqual([]);
      expect(ids(await queue.enqueue(entry('b1', 'sB')))).toEqual(['b1']);
      expect(await queue.waiting('athena')).toBe(2);
      expect(ids(await queue.pump('athena'))).toEqual([]);
    });

    test('an event whose hold has passed goes before a later one for the last place, though no call came between', async () => {
      await queue.attach('athena', slot('c1', 1));
      expect(ids(await queue.enqueue(entry('held', 'sA', { notBefore: Date.now() + 100 })))).toEqual([]);
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect(ids(await queue.enqueue(entry('later', 'sB')))).toEqual(['held']);
      expect(await queue.holder('athena', 'held')).toBe('c1');
      expect(await queue.holder('athena', 'later')).toBeNull();
      expect(await queue.waiting('athena')).toBe(1);
    });

    test('a waiting event past expiresAt is reported expired and removed, never assigned', async () => {
      expect((await queue.enqueue(entry('old', 'sA', { expiresAt: Date.now() + 50 }))).expired).toEqual([]);
      await new Promise((resolve) => setTimeout(resolve, 80));
      const result = await queue.attach('athena', slot('c1'));
      expect(result.expired).toEqual(['old']);
      expect(result.assigned).toEqual([]);
      expect(await queue.waiting('athena')).toBe(0);
      expect((await queue.remove('athena', 'old', false)).was).toBeNull();
    });

    test('remove with onlyIfWaiting leaves an in-flight event where it is', async () => {
      await queue.attach('athena', slot('c1', 1));
      await queue.enqueue(entry('e1', 's1'));
      await queue.enqueue(entry('e2', 's2'));
      const inFlight = await queue.remove('athena', 'e1', true);
      expect(inFlight).toMatchObject({ was: 'in-flight', connId: 'c1', assigned: [] });
      const waiting = await queue.remove('athena', 'e2', true);
      expect(waiting.was).toBe('waiting');
      expect(await queue.waiting('athena')).toBe(0);
      // e1 is still held: c1 (capacity 1) takes nothing new until it is removed
      expect(ids(await queue.enqueue(entry('e3', 's3')))).toEqual([]);
      expect(ids(await queue.remove('athena', 'e1', false))).toEqual(['e3']);
    });

    test('holder names the connection holding an event in flight, and nothing while it waits or after', async () => {
      await queue.attach('athena', slot('c1', 1));
      await queue.enqueue(entry('e1', 's1'));
      await queue.enqueue(entry('e2', 's2'));
      expect(await queue.holder('athena', 'e1')).toBe('c1');
      expect(await queue.holder('athena', 'e2')).toBeNull(); // waiting: c1 is full
      expect(await queue.holder('athena', 'nope')).toBeNull();
      await queue.remove('athena', 'e1', false);
      expect(await queue.holder('athena', 'e1')).toBeNull();
      expect(await queue.holder('athena', 'e2')).toBe('c1');
    });

    test('attempts counts the assignments of an event, waiting or in flight, and nothing after it leaves', async () => {
      await queue.attach('athena', slot('c1', 1));
      await queue.enqueue(entry('e1', 's1'));
      await queue.enqueue(entry('e2', 's2'));
      expect(await queue.attempts('athena', 'e1')).toBe(1);
      expect(await queue.attempts('athena', 'e2')).toBe(0); // waiting: c1 is full
      expect(await queue.attempts('athena', 'nope')).toBe(0);
      // handed back: waiting again, its assignment still counted
      await queue.retryLater('athena', 'c1', 'e1', FAR);
      expect(await queue.holder('athena', 'e1')).toBeNull();
      expect(await queue.attempts('athena', 'e1')).toBe(1);
      expect(await queue.attempts('athena', 'e2')).toBe(1);
      await queue.remove('athena', 'e1', false);
      expect(await queue.attempts('athena', 'e1')).toBe(0);
    });

    test('enqueueing an event already there changes nothing; one in flight is reported where it is', async () => {
      const waiting = entry('e1', 'sA');
      await queue.enqueue(waiting);
      expect((await queue.enqueue(waiting)).assigned).toEqual([]);
      expect(await queue.waiting('athena')).toBe(1);
      expect(ids(await queue.attach('athena', slot('c1')))).toEqual(['e1']);
      // in flight: the same assignment again (its sending may have been lost), not a new one
      expect((await queue.enqueue(waiting)).assigned).toEqual([
        { eventId: 'e1', agentId: 'athena', connId: 'c1', nodeId: 'n1', attempt: 1, seq: 1 },
      ]);
      expect(await queue.holder('athena', 'e1')).toBe('c1');
      expect(await queue.waiting('athena')).toBe(0);
      expect((await queue.remove('athena', 'e1', false)).was).toBe('in-flight');
      expect(await queue.events('athena')).toEqual([]);
    });

    test('retryLater hands one event back, held until notBefore with its session behind it, as attempt + 1', async () => {
      await queue.attach('athena', slot('c1', 1));
      expect(ids(await queue.enqueue(entry('a1', 'sA')))).toEqual(['a1']);
      await queue.enqueue(entry('a2', 'sA'));
      await queue.enqueue(entry('b1', 'sB'));
      // only the holder can hand it back
      expect(await queue.retryLater('athena', 'c2', 'a1', FAR)).toEqual({ assigned: [], expired: [] });
      expect(await queue.holder('athena', 'a1')).toBe('c1');
      // held far ahead: the freed place goes to the other session, never to a2 (it waits behind a1)
      expect(ids(await queue.retryLater('athena', 'c1', 'a1', FAR))).toEqual(['b1']);
      expect(await queue.holder('athena', 'a1')).toBeNull();
      expect(await queue.waiting('athena')).toBe(2);
      // while it is held, neither it nor a2 goes, wherever there is room
      expect(ids(await queue.remove('athena', 'b1', false))).toEqual([]);
      expect(ids(await queue.attach('athena', slot('c3', 1)))).toEqual([]);
      expect((await queue.retryLater('athena', 'c1', 'a1', 0)).assigned).toEqual([]); // not in flight: nothing
    });

    test('an event handed back with a past notBefore is assigned again at once, as attempt 2', async () => {
      await queue.attach('athena', slot('c1', 1));
      await queue.enqueue(entry('a1', 'sA'));
      await queue.enqueue(entry('a2', 'sA'));
      expect((await queue.retryLater('athena', 'c1', 'a1', Date.now() - 1)).assigned).toEqual([
        { eventId: 'a1', agentId: 'athena', connId: 'c1', nodeId: 'n1', attempt: 2, seq: 2 },
      ]);
      expect(await queue.waiting('athena')).toBe(1);
    });

    test("each connection's assignments are numbered 1, 2, 3… in the order made, by every operation", async () => {
      const seqs = (r: { assigned: { eventId: string; connId: string; seq: number }[] }) => r.assigned.map((a) => `${a.eventId}@${a.connId}#${a.seq}`);
      await queue.enqueue(entry('a1', 'sA'));
      expect(seqs(await queue.attach('athena', slot('c1', 2)))).toEqual(['a1@c1#1']);
      expect(seqs(await queue.enqueue(entry('b1', 'sB')))).toEqual(['b1@c1#2']);
      await queue.enqueue(entry('a2', 'sA'));
      // a second connection counts from 1; the first goes on from where it was
      expect(seqs(await queue.attach('athena', slot('c2', 3)))).toEqual([]);
      expect(seqs(await queue.enqueue(entry('c1e', 'sC')))).toEqual(['c1e@c2#1']);
      expect(seqs(await queue.remove('athena', 'a1', false))).toEqual(['a2@c1#3']);
      // handed back: c1's unanswered events go on to c2, numbered there
      expect(seqs(await queue.detach('athena', 'c1'))).toEqual(['b1@c2#2', 'a2@c2#3']);
      expect(seqs(await queue.enqueue(entry('a3', 'sA')))).toEqual([]); // c2 is full
      expect(seqs(await queue.remove('athena', 'c1e', false))).toEqual(['a3@c2#4']);
      // a repeat of an assignment is reported with its own number, not a new one
      expect(seqs(await queue.enqueue(entry('a2', 'sA')))).toEqual(['a2@c2#3']);
    });

    test('enqueueAfter queues only while the event named is in the queue, waiting or in flight; otherwise it changes nothing', async () => {
      await queue.attach('athena', slot('c1', 1));
      expect(await queue.enqueueAfter(entry('e2', 'sA'), 'e1')).toBeNull(); // e1 not queued yet
      expect(await queue.events('athena')).toEqual([]);
      expect(ids(await queue.enqueue(entry('e1', 'sA')))).toEqual(['e1']);
      expect(await queue.enqueueAfter(entry('e2', 'sA'), 'e1')).toEqual({ assigned: [], expired: [] }); // behind e1, in flight
      expect(await queue.enqueueAfter(entry('e3', 'sA'), 'e2')).toEqual({ assigned: [], expired: [] }); // behind e2, waiting
      await queue.remove('athena', 'e1', false);
      expect(await queue.enqueueAfter(entry('e4', 'sA'), 'e1')).toBeNull(); // e1 has left the queue
      expect((await queue.events('athena')).sort()).toEqual(['e2', 'e3']);
      expect(await queue.waiting('athena')).toBe(1);
    });

    test('removing an unknown event says so', async () => {
      expect(await queue.remove('athena', 'nope', false)).toMatchObject({ was: null, assigned: [], expired: [] });
    });

    test('forgetting a deleted agent drops its queue and connections, and no other agent\'s', async () => {
      await queue.attach('athena', slot('c1', 1));
      await queue.enqueue(entry('a1', 'sA'));
      await queue.enqueue(entry('a2', 'sA'));
      await queue.enqueue({ ...entry('k1', 'sK'), agentId: 'klyve' });
      await queue.forget('athena');
      expect(await queue.events('athena')).toEqual([]);
      expect(await queue.waiting('athena')).toBe(0);
      expect(await queue.holder('athena', 'a1')).toBeNull();
      // c1 is forgotten with it: an agent of the same id starts from nothing
      expect(ids(await queue.enqueue(entry('n1', 'sA')))).toEqual([]);
      expect(await queue.waiting('klyve')).toBe(1);
    });

    test('agents are independent', async () => {
      await queue.attach('athena', slot('c1'));
      const other = await queue.enqueue({ ...entry('k1', 'sK'), agentId: 'klyve' });
      expect(other.assigned).toEqual([]);
      expect(await queue.waiting('klyve')).toBe(1);
      expect(await queue.waiting('athena')).toBe(0);
    });
  });
}
