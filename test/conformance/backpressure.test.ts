import type { Socket } from 'node:net';
import { backendsUnderTest } from '../support/backends';
import { eventFrame, type Frame, type TestClient } from '../support/client';
import { useRelay } from '../support/relay-fixture';
import type { RelayProcess } from '../support/relay-process';

// Invariant 8: a slow reader never grows a node's memory without bound. Tokens to a backed-up
// socket are dropped (live only; the final reply carries the whole answer); a socket that stays
// backed up past RELAY_MAX_BUFFERED_BYTES is closed with 1013, and the final frames it had not
// received are delivered to the app's next connection.

const TOKEN_DROP_BYTES = 65_536;
const MAX_BUFFERED_BYTES = 1_048_576;

/** Every sample of a Prometheus series in the node's /metrics text, summed over label sets that match. */
async function metric(relay: RelayProcess, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${relay.httpUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
    if (match?.[1] === name && (match[2] ?? '').includes(labels)) sum += Number(match[3]);
  }
  return sum;
}

async function until(what: string, done: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** The TCP socket under a client's WebSocket: pausing it stops reading, as a stuck consumer does. */
const socketOf = (client: TestClient): Socket => (client.ws as unknown as { _socket: Socket })._socket;

/** Sends frames without letting the sender's own buffer grow without bound either. */
async function sendPaced(client: TestClient, frames: Iterable<Frame>): Promise<void> {
  for (const frame of frames) {
    client.send(frame);
    if (client.ws.bufferedAmount > 4 * 1024 * 1024) {
      await until('the sender to drain', () => client.ws.bufferedAmount < 1024 * 1024);
    }
  }
}

// single node: this suite measures one process: its metrics and its memory
describe.each(backendsUnderTest({ singleNode: true }))('backpressure from a slow app reader ($name backend)', (backend) => {
  const r = useRelay(backend, {
    env: { RELAY_TOKEN_DROP_BYTES: String(TOKEN_DROP_BYTES), RELAY_MAX_BUFFERED_BYTES: String(MAX_BUFFERED_BYTES) },
    // a test that failed with a socket paused: resumed, or its close handshake never completes
    beforeClose: (c) => socketOf(c)?.resume(),
  });

  test('tokens to a reader that stopped reading are dropped; memory stays bounded; the reply arrives once', async () => {
    const agent = await r.connect('athena');
    const app = await r.connect('portal');
    app.send(eventFrame({ thread_id: 'portal:slow:1' }));
    const id = (await app.nextOf('accepted')).event_id as string;
    await agent.nextOf('event', id);

    const rssBefore = await metric(r.relay, 'process_resident_memory_bytes');
    const droppedBefore = await metric(r.relay, 'relay_tokens_dropped_total', 'reason="backpressure"');
    const finishedBefore = await metric(r.relay, 'relay_events_finished_total', 'outcome="reply_stop"');
    const closesBefore = await metric(r.relay, 'relay_backpressure_closes_total');
    socketOf(app).pause();

    // 40,000 tokens of 2 KiB: ~80 MB, far more than the kernel's socket buffers and the relay's limits.
    const COUNT = 40_000;
    const chunk = 'x'.repeat(2048);
    await sendPaced(
      agent,
      (function* () {
        for (let i = 0; i < COUNT; i++) yield { type: 'token', event_id: id, token: chunk };
        yield { type: 'reply', event_id: id, content: 'the whole answer', finish_reason: 'stop' };
      })(),
    );
    await until('the relay to take the reply', async () => (await metric(r.relay, 'relay_events_finished_total', 'outcome="reply_stop"')) > finishedBefore);

    const dropped = (await metric(r.relay, 'relay_tokens_dropped_total', 'reason="backpressure"')) - droppedBefore;
    const rssAfter = await metric(r.relay, 'process_resident_memory_bytes');
    expect(dropped).toBeGreaterThan(0);
    // Buffering it all would take ~80 MB more; the relay holds at most about MAX_BUFFERED_BYTES.
    expect(rssAfter - rssBefore).toBeLessThan(64 * 1024 * 1024);
    expect(await metric(r.relay, 'relay_backpressure_closes_total')).toBe(closesBefore);

    socketOf(app).resume();
    const reply = await app.nextOf('reply', id, 15_000);
    expect(reply).toMatchObject({ content: 'the whole answer', finish_reason: 'stop', metadata: { tokens_used: COUNT } });
    const tokensSeen = app.frames.filter((f) => f.type === 'token' && f.event_id === id);
    const seqs = tokensSeen.map((f) => f.seq as number);
    expect(seqs.length).toBeLessThan(COUNT); // some were dropped...
    expect(seqs.every((s, i) => i === 0 || s > (seqs[i - 1] as number))).toBe(true); // ...the rest in order
    expect(seqs.every((s) => s >= 0 && s < COUNT)).toBe(true);
    expect((await app.quiet(200)).filter((f) => f.type === 'reply' || f.type === 'error')).toEqual([]);
    expect(app.ws.readyState).toBe(app.ws.OPEN);
    for (const c of [agent, app]) expect(c.invalid).toEqual([]);
  }, 30_000);

  test('a reader that never reads is closed with 1013, and its final replies go to the next connection', async () => {
    const agent = await r.connect('athena');
    const p1 = await r.connect('portal');
    const COUNT = 24;
    for (let i = 0; i < COUNT; i++) p1.send(eventFrame({ thread_id: `portal:stuck-${i}:x`, ref: `r${i}` }));
    const ids: string[] = [];
    for (let i = 0; i < COUNT; i++) ids.push((await p1.next((f) => f.type === 'accepted' && f.ref === `r${i}`)).event_id);
    for (const id of ids) await agent.nextOf('event', id);

    const closesBefore = await metric(r.relay, 'relay_backpressure_closes_total', 'role="app"');
    const finishedBefore = await metric(r.relay, 'relay_events_finished_total', 'outcome="reply_stop"');
    socketOf(p1).pause();
    // Final replies are never dropped like tokens: 24 replies of ~512 KiB each (the answer is
    // sent as both content and reply) is ~12 MB, far past the 1 MiB limit and the kernel buffers.
    const answer = (id: string) => `${id}:`.padEnd(256 * 1024, 'y');
    await sendPaced(agent, ids.map((id) => ({ type: 'reply', event_id: id, content: answer(id), finish_reason: 'stop' })));
    await until('all replies taken', async () => (await metric(r.relay, 'relay_events_finished_total', 'outcome="reply_stop"')) - finishedBefore === COUNT);
    await until('the slow socket closed', async () => (await metric(r.relay, 'relay_backpressure_closes_total', 'role="app"')) > closesBefore);

    socketOf(p1).resume();
    expect((await p1.closed).code).toBe(1013);

    // The next connection reads normally: it gets every final p1 did not, paced so that it is
    // not itself closed for the backlog. Finals written to p1 but still unsent when it was
    // closed may reach both (at least once); no connection gets one twice.
    const p2 = await r.connect('portal');
    const count = (c: TestClient, id: string) => c.frames.filter((f) => f.type === 'reply' && f.event_id === id).length;
    // This test has failed at random in CI, and never yet in a local loop: a failure says where
    // the finals and p2 stood, with the node's warnings.
    const explained = async (err: unknown) => {
      const closes = await metric(r.relay, 'relay_backpressure_closes_total', 'role="app"');
      const notes = r.relay.output().split('\n').filter((l) => /"level":(40|50|60)|held in the app outbox|connection (opened|closed)/.test(l)).slice(-30);
      return new Error(
        [
          String(err),
          `p2 readyState ${p2.ws.readyState}; app backpressure closes ${closes - closesBefore} in this test`,
          `finals at p1 ${ids.filter((id) => count(p1, id) > 0).length}, at p2 ${ids.filter((id) => count(p2, id) > 0).length}, at neither ${ids.filter((id) => count(p1, id) + count(p2, id) === 0).length}`,
          ...notes.map((l) => l.slice(0, 300)),
        ].join('\n'),
      );
    };
    await until('every final at p1 or p2', () => ids.every((id) => count(p1, id) + count(p2, id) >= 1)).catch(async (err: unknown) => {
      throw await explained(err);
    });
    if (p2.ws.readyState !== p2.ws.OPEN) throw await explained('p2 was closed');
    await p2.quiet(300);
    for (const id of ids) {
      expect(count(p1, id)).toBeLessThanOrEqual(1);
      expect(count(p2, id)).toBeLessThanOrEqual(1);
      const final = [...p1.frames, ...p2.frames].find((f) => f.type === 'reply' && f.event_id === id);
      expect(final?.content).toBe(answer(id));
    }
    expect(ids.some((id) => count(p2, id) === 1)).toBe(true);
    expect(p2.ws.readyState).toBe(p2.ws.OPEN);
    expect(await metric(r.relay, 'relay_backpressure_closes_total', 'role="app"')).toBe(closesBefore + 1);
    for (const c of [agent, p1, p2]) expect(c.invalid).toEqual([]);
  }, 30_000);

  test('a reply larger than RELAY_MAX_BUFFERED_BYTES still reaches a reader that keeps up', async () => {
    // Where the protocol is silent we take the limit to be on what a reader has left unread,
    // as RELAY_MAX_BUFFERED_BYTES's help says, so one big answer never costs a healthy socket.
    const agent = await r.connect('athena');
    const app = await r.connect('portal');
    const closesBefore = await metric(r.relay, 'relay_backpressure_closes_total');
    app.send(eventFrame({ thread_id: 'portal:big-answer:1' }));
    const id = (await app.nextOf('accepted')).event_id as string;
    await agent.nextOf('event', id);
    // content and reply both carry it: the app's frame is ~1.2 MB against a 1 MiB limit.
    const content = 'z'.repeat(600 * 1024);
    agent.send({ type: 'reply', event_id: id, content, finish_reason: 'stop' });
    const reply = await app.nextOf('reply', id, 10_000);
    expect(reply.content).toBe(content);
    expect(reply.reply).toBe(content);
    expect(app.ws.readyState).toBe(app.ws.OPEN);
    expect(await metric(r.relay, 'relay_backpressure_closes_total')).toBe(closesBefore);
    expect((await app.quiet(200)).filter((f) => f.type === 'reply')).toEqual([]);
    for (const c of [agent, app]) expect(c.invalid).toEqual([]);
  }, 20_000);
});
