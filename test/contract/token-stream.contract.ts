import type { TokenStreamOptions, TokenStreams } from '../../packages/gateway/src/ports';

export interface TokenStreamsUnderTest {
  /** Streams with these bounds; `peer` is another node's on the same backend, if it has nodes. */
  streams(options: TokenStreamOptions): TokenStreams;
  peer?: (options: TokenStreamOptions) => TokenStreams;
  /** For a backend behind a connection: streams whose connection can be cut and restored. */
  outage?: (options: TokenStreamOptions) => { streams: TokenStreams; down(): void; up(): Promise<void> };
  /** Lets `ms` pass for the backend's expiry (a memory backend sweeps then). */
  later(ms: number): Promise<void>;
  teardown(): Promise<void>;
}

let counter = 0;
const newEvent = () => `evt_stream_${process.pid}_${(counter += 1)}`;
const AGENT = 'athena';
const BOUNDS: TokenStreamOptions = { retentionMs: 60_000, liveTtlMs: 60_000 };

/** The contract of TokenStreams (ports/token-stream.ts), for every backend. */
export function tokenStreamContract(name: string, make: () => Promise<TokenStreamsUnderTest>) {
  describe(`TokenStreams contract: ${name}`, () => {
    let t: TokenStreamsUnderTest;
    beforeEach(async () => {
      t = await make();
    });
    afterEach(() => t.teardown());

    test('tokens are read back in seq order after any seq, once flushed', async () => {
      const s = t.streams(BOUNDS);
      const id = newEvent();
      s.begin(id, AGENT, 1);
      ['a', 'b', 'c', 'd'].forEach((token, seq) => s.append(id, AGENT, 1, seq, token));
      await s.flushed();
      expect(await s.attempt(id, AGENT)).toBe(1);
      expect(await s.read(id, AGENT, 1, -1)).toEqual(['a', 'b', 'c', 'd']);
      expect(await s.read(id, AGENT, 1, 1)).toEqual(['c', 'd']);
      expect(await s.read(id, AGENT, 1, 3)).toEqual([]);
    });

    test('an unknown event has no attempt and no tokens', async () => {
      const s = t.streams(BOUNDS);
      expect(await s.attempt(newEvent(), AGENT)).toBeNull();
      expect(await s.read(newEvent(), AGENT, 1, -1)).toEqual([]);
    });

    test('a new attempt becomes current and starts empty; the older one is never mixed in', async () => {
      const s = t.streams(BOUNDS);
      const id = newEvent();
      s.begin(id, AGENT, 1);
      s.append(id, AGENT, 1, 0, 'old-0');
      s.append(id, AGENT, 1, 1, 'old-1');
      s.begin(id, AGENT, 2);
      s.append(id, AGENT, 2, 0, 'new-0');
      await s.flushed();
      expect(await s.attempt(id, AGENT)).toBe(2);
      expect(await s.read(id, AGENT, 2, -1)).toEqual(['new-0']);
    });

    test('another node reads what this one recorded', async () => {
      if (!t.peer) return;
      const s = t.streams(BOUNDS);
      const other = t.peer(BOUNDS);
      const id = newEvent();
      s.begin(id, AGENT, 3);
      for (let seq = 0; seq < 200; seq += 1) s.append(id, AGENT, 3, seq, `t${seq}`);
      await s.flushed();
      expect(await other.attempt(id, AGENT)).toBe(3);
      const tokens = await other.read(id, AGENT, 3, 99);
      expect(tokens).toHaveLength(100);
      expect(tokens[0]).toBe('t100');
      expect(tokens[99]).toBe('t199');
    });

    test('writes that failed are made again, ahead of later ones: the stream never has a gap', async () => {
      if (!t.outage) return;
      const { streams: s, down, up } = t.outage(BOUNDS);
      const id = newEvent();
      s.begin(id, AGENT, 1);
      s.append(id, AGENT, 1, 0, 't0');
      await s.flushed();
      down();
      s.append(id, AGENT, 1, 1, 't1');
      s.append(id, AGENT, 1, 2, 't2');
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await t.streams(BOUNDS).read(id, AGENT, 1, -1)).toEqual(['t0']);
      await up();
      s.append(id, AGENT, 1, 3, 't3');
      await s.flushed();
      expect(await t.streams(BOUNDS).read(id, AGENT, 1, -1)).toEqual(['t0', 't1', 't2', 't3']);
    });

    test('a stream is kept the retention after its final, and then forgotten', async () => {
      const s = t.streams({ ...BOUNDS, retentionMs: 300 });
      const id = newEvent();
      const kept = newEvent();
      for (const e of [id, kept]) {
        s.begin(e, AGENT, 1);
        s.append(e, AGENT, 1, 0, 'x');
      }
      s.ended(id, AGENT);
      await s.flushed();
      expect(await s.read(id, AGENT, 1, -1)).toEqual(['x']);
      await t.later(600);
      expect(await s.attempt(id, AGENT)).toBeNull();
      expect(await s.read(id, AGENT, 1, -1)).toEqual([]);
      // without a final, the (longer) live TTL holds it
      expect(await s.read(kept, AGENT, 1, -1)).toEqual(['x']);
    });

    test('a stream with no final goes its live TTL after its latest token', async () => {
      const s = t.streams({ ...BOUNDS, liveTtlMs: 300 });
      const id = newEvent();
      s.begin(id, AGENT, 1);
      s.append(id, AGENT, 1, 0, 'x');
      await s.flushed();
      await t.later(600);
      expect(await s.attempt(id, AGENT)).toBeNull();
    });

    test('a stream still being written is kept its live TTL after its latest token, not its first', async () => {
      const s = t.streams({ ...BOUNDS, liveTtlMs: 400 });
      const id = newEvent();
      s.begin(id, AGENT, 1);
      // Tokens for longer than the live TTL and its refresh (500 ms), read right after the latest:
      // the read does not wait on a timer, which a busy machine may fire late.
      const sent: string[] = [];
      const first = Date.now();
      for (let seq = 0; ; seq += 1) {
        s.append(id, AGENT, 1, seq, `t${seq}`);
        sent.push(`t${seq}`);
        await s.flushed();
        if (Date.now() - first >= 700) break;
        await t.later(100);
      }
      expect(await s.read(id, AGENT, 1, -1)).toEqual(sent);
      await t.later(600); // and gone once the live TTL and its refresh have passed since the latest
      expect(await s.attempt(id, AGENT)).toBeNull();
    });
  });
}
