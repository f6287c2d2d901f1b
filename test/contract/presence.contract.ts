import type { ConnectionInfo, Presence } from '../../packages/gateway/src/ports';

export interface PresenceUnderTest {
  /** The presence as one node sees it. */
  presence: Presence;
  /**
   * Another node's view of the same presence (its own connection to the backend), for a backend
   * that several nodes share. Absent where one process is the whole cluster (memory).
   */
  peer?: () => Presence;
  /** How long a node may still be taken for alive after its liveness lapsed (a local cache). */
  aliveCacheMs: number;
  teardown(): Promise<void>;
}

let counter = 0;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function conn(overrides: Partial<ConnectionInfo> = {}): ConnectionInfo {
  counter += 1;
  return { connId: `n1.${counter}`, nodeId: 'n1', role: 'app', principalId: 'portal', tokenId: 't1', since: Date.now() + counter, ...overrides };
}

const ids = (infos: ConnectionInfo[]) => infos.map((i) => i.connId);
const noHandBack = async () => {};

/**
 * Presence (ports/presence.ts): entries live from `add` to `remove`; `add` is an atomic
 * check-and-add against the app's or agent's limit, counted in constant time by `count`; entries
 * of a node whose liveness lapsed are never returned, and reaping hands each dead node's entries
 * to exactly one caller and frees their places.
 */
export function presenceContract(name: string, create: () => Promise<PresenceUnderTest>, options: { shared: boolean }) {
  describe(`Presence contract (${name})`, () => {
    let under: PresenceUnderTest;
    let presence: Presence;
    beforeEach(async () => {
      under = await create();
      presence = under.presence;
      await presence.heartbeat('n1', 60_000);
    });
    afterEach(async () => under.teardown());

    test('an added entry is found by id, in its principal list, in all, and counted, until removed', async () => {
      const first = conn();
      const second = conn();
      const agent = conn({ role: 'agent', principalId: 'athena' });
      for (const info of [first, second, agent]) expect(await presence.add(info, 10)).toBe(true);

      expect(await presence.get(first.connId)).toEqual(first);
      expect(ids(await presence.list('app', 'portal'))).toEqual([first.connId, second.connId]);
      expect(ids(await presence.all())).toEqual([first.connId, second.connId, agent.connId]);
      expect(await presence.count('app', 'portal')).toBe(2);
      expect(await presence.count('agent', 'athena')).toBe(1);
      expect(await presence.onlineAgents(['athena', 'hermes'])).toEqual(new Set(['athena']));

      await presence.remove(first.connId);
      expect(await presence.get(first.connId)).toBeNull();
      expect(ids(await presence.list('app', 'portal'))).toEqual([second.connId]);
      expect(await presence.count('app', 'portal')).toBe(1);
      await presence.remove(agent.connId);
      expect(await presence.onlineAgents(['athena'])).toEqual(new Set());
      expect(await presence.count('agent', 'athena')).toBe(0);
    });

    test('add refuses past the limit; a refused entry is nowhere, and a removal frees its place', async () => {
      const held = [conn(), conn()];
      for (const info of held) expect(await presence.add(info, 2)).toBe(true);
      const third = conn();
      expect(await presence.add(third, 2)).toBe(false);
      expect(await presence.get(third.connId)).toBeNull();
      expect(ids(await presence.list('app', 'portal'))).toEqual(ids(held));
      expect(await presence.count('app', 'portal')).toBe(2);
      // The limit is the caller's: a raised limit admits at once.
      expect(await presence.add(third, 3)).toBe(true);

      await presence.remove(held[0]!.connId);
      expect(await presence.add(conn(), 3)).toBe(true);
      expect(await presence.count('app', 'portal')).toBe(3);
    });

    test('places are counted per role and principal', async () => {
      expect(await presence.add(conn({ principalId: 'portal' }), 1)).toBe(true);
      expect(await presence.add(conn({ principalId: 'academy' }), 1)).toBe(true);
      // an agent may share an app's id: its places are its own
      expect(await presence.add(conn({ role: 'agent', principalId: 'portal' }), 1)).toBe(true);
      expect(await presence.add(conn({ principalId: 'portal' }), 1)).toBe(false);
      expect(await presence.count('app', 'portal')).toBe(1);
      expect(await presence.count('agent', 'portal')).toBe(1);
    });

    test('adding an entry already there keeps one place, even at the limit', async () => {
      const info = conn();
      expect(await presence.add(info, 1)).toBe(true);
      expect(await presence.add(info, 1)).toBe(true);
      expect(await presence.count('app', 'portal')).toBe(1);
      expect(ids(await presence.list('app', 'portal'))).toEqual([info.connId]);
    });

    test('removing an entry that is not there (or twice) frees no one else’s place', async () => {
      const info = conn();
      expect(await presence.add(info, 1)).toBe(true);
      await presence.remove('n1.never-added');
      expect(await presence.count('app', 'portal')).toBe(1);
      const other = conn();
      expect(await presence.add(other, 1)).toBe(false);
      await presence.remove(info.connId);
      await presence.remove(info.connId);
      expect(await presence.count('app', 'portal')).toBe(0);
      expect(await presence.add(other, 1)).toBe(true);
      expect(await presence.add(conn(), 1)).toBe(false);
    });

    test('connections racing for the last places: exactly the limit get one', async () => {
      const views = [presence, ...(under.peer ? [under.peer(), under.peer()] : [])];
      expect(await presence.add(conn(), 5)).toBe(true);
      const racers = Array.from({ length: 24 }, (_, i) => conn({ nodeId: 'n1', connId: `race.${counter}.${i}` }));
      const answers = await Promise.all(racers.map((info, i) => views[i % views.length]!.add(info, 5)));
      const admitted = racers.filter((_, i) => answers[i]).map((i) => i.connId);
      expect(admitted).toHaveLength(4);
      expect(await presence.count('app', 'portal')).toBe(5);
      expect(ids(await presence.list('app', 'portal'))).toEqual(expect.arrayContaining(admitted));
    });

    test('a node that beat is listed among the nodes, and its beats say it goes on', async () => {
      expect(await presence.heartbeat('n1', 60_000)).toBe(true);
      expect(await presence.nodes()).toContain('n1');
    });

    if (!options.shared) return;

    describe('several nodes', () => {
      const TTL_MS = 250;

      test("a dead node's entries are never returned, yet hold their places until it is reaped", async () => {
        const other = under.peer!();
        await other.heartbeat('n2', TTL_MS);
        const theirs = conn({ nodeId: 'n2', connId: `n2.${counter}` });
        expect(await other.add(theirs, 2)).toBe(true);
        expect(await presence.add(conn(), 2)).toBe(true);
        expect(ids(await presence.list('app', 'portal'))).toContain(theirs.connId);

        await sleep(TTL_MS + under.aliveCacheMs + 150); // n2 stops beating: its liveness lapses
        await presence.heartbeat('n1', 60_000);
        expect(await presence.get(theirs.connId)).toBeNull();
        expect(ids(await presence.list('app', 'portal'))).not.toContain(theirs.connId);
        expect(ids(await presence.all())).not.toContain(theirs.connId);
        expect(await presence.nodes()).not.toContain('n2');
        // Its sockets may still be open until it learns it was given up: the place stays taken.
        expect(await presence.count('app', 'portal')).toBe(2);
        expect(await presence.add(conn(), 2)).toBe(false);

        expect(ids(await presence.reapDeadNodes('n1', noHandBack))).toEqual([theirs.connId]);
        expect(await presence.count('app', 'portal')).toBe(1);
        expect(await presence.add(conn(), 2)).toBe(true);
      });

      test("each dead node's entries go to exactly one of several racing reapers; live nodes are never reaped", async () => {
        const dying = under.peer!();
        await dying.heartbeat('n2', TTL_MS);
        const theirs = [conn({ nodeId: 'n2', connId: `n2.${counter}.a` }), conn({ nodeId: 'n2', role: 'agent', principalId: 'athena', connId: `n2.${counter}.b` })];
        for (const info of theirs) expect(await dying.add(info, 10)).toBe(true);
        const mine = conn();
        expect(await presence.add(mine, 10)).toBe(true);

        await sleep(TTL_MS + 150);
        const reapers = [presence, under.peer!(), under.peer!()];
        await Promise.all(reapers.map((r, i) => r.heartbeat(`n${i === 0 ? 1 : i + 2}`, 60_000)));
        const results = await Promise.all(reapers.map((r, i) => r.reapDeadNodes(`n${i === 0 ? 1 : i + 2}`, noHandBack)));
        expect(results.flatMap(ids).sort()).toEqual(ids(theirs).sort());
        expect(results.filter((r) => r.length > 0)).toHaveLength(1);

        expect(await presence.get(mine.connId)).toEqual(mine);
        expect(await presence.count('app', 'portal')).toBe(1);
        expect(await presence.count('agent', 'athena')).toBe(0);
        expect(await presence.onlineAgents(['athena'])).toEqual(new Set());
        // A later reap finds nothing more.
        expect(await presence.reapDeadNodes('n1', noHandBack)).toEqual([]);
      });

      test('a reap cut short (a hand-back fails) removes only what was handed back; the same reaper takes up the rest on its next reap', async () => {
        const dying = under.peer!();
        await dying.heartbeat('n2', TTL_MS);
        const theirs = [1, 2, 3].map((n) => conn({ nodeId: 'n2', role: 'agent', principalId: 'athena', connId: `n2.${counter}.${n}` }));
        for (const info of theirs) expect(await dying.add(info, 10)).toBe(true);
        await sleep(TTL_MS + under.aliveCacheMs + 150);
        await presence.heartbeat('n1', 60_000);

        const handedBack: string[] = [];
        const failOnSecond = async (info: ConnectionInfo) => {
          if (handedBack.length === 1) throw new Error('store went away');
          handedBack.push(info.connId);
        };
        await expect(presence.reapDeadNodes('n1', failOnSecond)).rejects.toThrow('store went away');
        expect(await presence.count('agent', 'athena')).toBe(2); // the first one is gone, with its events handed back
        // Another reaper leaves it to the one that claimed it...
        expect(await under.peer!().reapDeadNodes('n3', noHandBack)).toEqual([]);
        // ...which hands back the rest and removes them.
        const rest = await presence.reapDeadNodes('n1', async (info) => void handedBack.push(info.connId));
        expect(ids(rest).sort()).toEqual(ids(theirs).filter((id) => id !== handedBack[0]).sort());
        expect(handedBack.sort()).toEqual(ids(theirs).sort());
        expect(await presence.count('agent', 'athena')).toBe(0);
        expect(await presence.nodes()).not.toContain('n2');
      });

      test('a node reaped by another learns it on its next beat', async () => {
        const other = under.peer!();
        expect(await other.heartbeat('n2', TTL_MS)).toBe(true);
        const theirs = conn({ nodeId: 'n2', connId: `n2.${counter}` });
        expect(await other.add(theirs, 10)).toBe(true);
        await sleep(TTL_MS + 150);
        expect(ids(await presence.reapDeadNodes('n1', noHandBack))).toEqual([theirs.connId]);
        expect(await other.heartbeat('n2', 60_000)).toBe(false);
        expect(await other.heartbeat('n2', 60_000)).toBe(true);
        expect(await presence.nodes()).toContain('n2');
      });

      test('a node whose liveness only lapsed, reaped by nobody (Redis was away for all), goes on with its entries', async () => {
        const other = under.peer!();
        expect(await other.heartbeat('n2', TTL_MS)).toBe(true);
        const theirs = conn({ nodeId: 'n2', connId: `n2.${counter}` });
        expect(await other.add(theirs, 10)).toBe(true);
        await sleep(TTL_MS + 150);
        expect(await other.heartbeat('n2', 60_000)).toBe(true);
        expect(await presence.get(theirs.connId)).toEqual(theirs);
        // and, beating again, it is no longer anyone's to reap
        expect(await presence.reapDeadNodes('n1', noHandBack)).toEqual([]);
        expect(await presence.get(theirs.connId)).toEqual(theirs);
      });
    });
  });
}
