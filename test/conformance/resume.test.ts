import { ErrorCode } from '@relay/protocol';
import { backendsUnderTest } from '../support/backends';
import { eventFrame, type Frame, type TestClient } from '../support/client';
import { range, untilFinal } from '../support/lifecycle';
import { useRelay } from '../support/relay-fixture';
import { metricSum, scrape } from '../support/wire-probe';

const seqs = (tokens: Frame[]) => tokens.map((t) => t.seq);

describe.each(backendsUnderTest())('resuming a reply stream ($name backend)', (backend) => {
  const r = useRelay(backend);

  async function started(app: TestClient) {
    const agent = await r.connect('athena');
    app.send(eventFrame());
    const accepted = await app.nextOf('accepted');
    const event = await agent.nextOf('event', accepted.event_id);
    return { agent, id: accepted.event_id as string };
  }

  test('mid-stream on another connection: the rest of the replay, then live tokens, each once and in order, then the final', async () => {
    const first = await r.connect('portal');
    const { agent, id } = await started(first);
    for (let i = 0; i < 5; i++) agent.send({ type: 'token', event_id: id, token: `t${i} ` });
    expect(await first.next((f) => f.type === 'token' && f.seq === 4)).toMatchObject({ attempt: 1, event_id: id });

    const second = await r.connect('portal');
    second.send({ type: 'resume', event_id: id, attempt: 1, after_seq: 2, ref: 'r7' });
    // the agent goes on while the resume is answered, and after: the seam between replay and live
    let answered = false;
    const resumed = second.nextOf('resumed', id).finally(() => (answered = true));
    let sent = 5;
    const burst = () => {
      for (let i = 0; i < 5; i++, sent++) agent.send({ type: 'token', event_id: id, token: `t${sent} ` });
    };
    // at most 1,000 tokens (about 100 KB): a replay much larger backs the reader up past
    // RELAY_TOKEN_DROP_BYTES on a slow machine, and then live tokens are dropped, as promised
    while (!answered && sent < 1_000) {
      burst();
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(await resumed).toEqual({ type: 'resumed', event_id: id, attempt: 1, from_seq: 3, ref: 'r7' });
    burst();
    const content = range(0, sent - 1).map((i) => `t${i} `).join('');
    agent.send({ type: 'reply', event_id: id, content, finish_reason: 'stop' });

    const { tokens, final } = await untilFinal(second, id);
    expect(seqs(tokens)).toEqual(range(3, sent - 1));
    expect(tokens.every((t) => t.attempt === 1 && t.token === `t${t.seq} `)).toBe(true);
    expect(final).toMatchObject({ type: 'reply', content });
    expect((await second.quiet(100)).filter((f) => f.event_id === id)).toEqual([]);
  });

  test('after the final: the whole stream from seq 0, then the final again', async () => {
    const first = await r.connect('portal');
    const { agent, id } = await started(first);
    for (let i = 0; i < 3; i++) agent.send({ type: 'token', event_id: id, token: `w${i}` });
    agent.send({ type: 'reply', event_id: id, content: 'w0w1w2', finish_reason: 'stop' });
    await first.nextOf('reply', id);

    const later = await r.connect('portal');
    later.send({ type: 'resume', event_id: id });
    expect(await later.nextOf('resumed', id)).toEqual({ type: 'resumed', event_id: id, attempt: 1, from_seq: 0 });
    const { tokens, final } = await untilFinal(later, id);
    expect(tokens.map((t) => t.token)).toEqual(['w0', 'w1', 'w2']);
    expect(seqs(tokens)).toEqual([0, 1, 2]);
    expect(final).toMatchObject({ type: 'reply', content: 'w0w1w2' });
  });

  test("a resume naming an older attempt gets the current attempt's stream from seq 0", async () => {
    const app = await r.connect('portal');
    const first = await r.connect('athena');
    app.send(eventFrame());
    const accepted = await app.nextOf('accepted');
    const id = accepted.event_id as string;
    await first.nextOf('event', id);
    for (let i = 0; i < 3; i++) first.send({ type: 'token', event_id: id, token: `old${i}` });
    await app.next((f) => f.type === 'token' && f.seq === 2);
    // the agent connection is lost: the event goes to another one, as attempt 2
    const second = await r.connect('athena');
    await first.close();
    expect(await second.nextOf('event', id)).toMatchObject({ attempt: 2 });
    second.send({ type: 'token', event_id: id, token: 'new0' });
    second.send({ type: 'token', event_id: id, token: 'new1' });
    expect(await app.next((f) => f.type === 'token' && f.attempt === 2 && f.seq === 1)).toMatchObject({ token: 'new1' });

    const again = await r.connect('portal');
    again.send({ type: 'resume', event_id: id, attempt: 1, after_seq: 2 });
    expect(await again.nextOf('resumed', id)).toEqual({ type: 'resumed', event_id: id, attempt: 2, from_seq: 0 });
    second.send({ type: 'token', event_id: id, token: 'new2' });
    second.send({ type: 'reply', event_id: id, content: 'new0new1new2', finish_reason: 'stop' });
    const { tokens, final } = await untilFinal(again, id);
    expect(tokens.map((t) => [t.attempt, t.seq, t.token])).toEqual([
      [2, 0, 'new0'],
      [2, 1, 'new1'],
      [2, 2, 'new2'],
    ]);
    expect(final).toMatchObject({ type: 'reply', content: 'new0new1new2' });
  });

  test("another app's event and an unknown one get the same UNKNOWN_EVENT, and nothing of the stream", async () => {
    const owner = await r.connect('portal');
    const { agent, id } = await started(owner);
    agent.send({ type: 'token', event_id: id, token: 'secret' });
    await owner.nextOf('token', id);

    const other = await r.connect('flow');
    other.send({ type: 'resume', event_id: id, ref: 'x1' });
    const theirs = await other.nextOf('error');
    other.send({ type: 'resume', event_id: 'evt_0LKq8m3ZbW9x2cT4', ref: 'x1' });
    const unknown = await other.nextOf('error');
    expect(theirs).toMatchObject({ code: ErrorCode.UNKNOWN_EVENT, event_id: id, ref: 'x1' });
    expect(unknown).toMatchObject({ code: ErrorCode.UNKNOWN_EVENT, event_id: 'evt_0LKq8m3ZbW9x2cT4', ref: 'x1' });
    expect({ ...theirs, event_id: undefined }).toEqual({ ...unknown, event_id: undefined });

    // the owner still gets the stream: the refused resume moved nothing
    agent.send({ type: 'token', event_id: id, token: 'more' });
    expect(await owner.nextOf('token', id)).toMatchObject({ token: 'more', seq: 1 });
    expect((await other.quiet(100)).filter((f) => f.type === 'token')).toEqual([]);
  });

  test.each<[string, Record<string, unknown>, string]>([
    ['after_seq below -1', { after_seq: -2 }, 'after_seq'],
    ['a fractional after_seq', { after_seq: 0.5 }, 'after_seq'],
    ['attempt 0', { attempt: 0 }, 'attempt'],
    ['a malformed event_id', { event_id: 'nope' }, 'event_id'],
  ])('a resume with %s is INVALID_MESSAGE naming the field, with its ref', async (_name, fields, path) => {
    const app = await r.connect('portal');
    app.send({ type: 'resume', event_id: 'evt_0LKq8m3ZbW9x2cT4', ref: 'bad', ...fields });
    const error = await app.nextOf('error');
    expect(error).toMatchObject({ code: ErrorCode.INVALID_MESSAGE, ref: 'bad' });
    expect(error.details.map((d: { path: string }) => d.path)).toEqual([path]);
  });
});

// single node: the cap's metric is read from the node that recorded the tokens
describe.each(backendsUnderTest({ singleNode: true }))('the recording cap per attempt ($name backend)', (backend) => {
  const r = useRelay(backend, { env: { RELAY_STREAM_MAX_BYTES: '10' } });

  test('tokens past RELAY_STREAM_MAX_BYTES are relayed live but not recorded, and counted', async () => {
    const app = await r.connect('portal');
    const agent = await r.connect('athena');
    app.send(eventFrame());
    const id = (await app.nextOf('accepted')).event_id as string;
    await agent.nextOf('event', id);
    const before = metricSum(await scrape(r.relay.httpUrl), 'relay_tokens_unrecorded_total', { reason: 'cap' });
    // 4 + 4 bytes fit; the third would make 12; the fourth would fit, but must not leave a gap
    for (const token of ['aaaa', 'bbbb', 'cccc', 'd']) agent.send({ type: 'token', event_id: id, token });
    agent.send({ type: 'reply', event_id: id, content: 'aaaabbbbccccd', finish_reason: 'stop' });
    const live = await untilFinal(app, id);
    expect(live.tokens.map((t) => t.token)).toEqual(['aaaa', 'bbbb', 'cccc', 'd']);

    const later = await r.connect('portal');
    later.send({ type: 'resume', event_id: id });
    await later.nextOf('resumed', id);
    const replayed = await untilFinal(later, id);
    expect(replayed.tokens.map((t) => t.token)).toEqual(['aaaa', 'bbbb']);
    expect(replayed.final).toMatchObject({ content: 'aaaabbbbccccd' });
    const after = metricSum(await scrape(r.relay.httpUrl), 'relay_tokens_unrecorded_total', { reason: 'cap' });
    expect(after - before).toBe(2);
  });
});
