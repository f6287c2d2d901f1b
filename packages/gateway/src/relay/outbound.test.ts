import type { EventRecord } from '../ports';
import { parseAgentFrame } from '@relay/protocol';
import { appReplyFrame, appTokenFrame, appTokenHead, errorFrame, finalOnWire } from './outbound';

// Issue 11.6: a stored final carries the answer once; the app's frame has it under both
// `content` and `reply`, built when it is written to the socket.

const event: EventRecord = {
  id: 'evt_1', appId: 'portal', agentId: 'athena', threadId: 't"1\\', sessionKey: 's', payloadRaw: '{"q":"why"}',
  acceptedAt: 1_000, expiresAt: 2_000, appConnId: 'c1', queued: false, finished: false,
};
const reply = (content: string | null) =>
  appReplyFrame(event, { type: 'reply', event_id: 'evt_1', content, finish_reason: content === null ? 'error' : 'stop' }, undefined, 3, 1_500);

test.each([
  ['plain text', 'hello'],
  ['quotes and backslashes', 'a "quoted" \\ and \\\\" tricky ","reply":"x\\'],
  ['no answer', null],
  ['empty', ''],
  ['unicode and newlines', 'é\n\u2028🙂'],
])('a stored reply holds the answer once; on the wire it is under content and reply (%s)', (_name, content) => {
  const stored = reply(content);
  expect(JSON.parse(stored)).not.toHaveProperty('reply');
  const wire = JSON.parse(finalOnWire(stored)) as Record<string, unknown>;
  expect(wire).toMatchObject({ type: 'reply', event_id: 'evt_1', thread_id: 't"1\\', content, reply: content, payload: { q: 'why' } });
  expect(wire.metadata).toEqual({ tokens_used: 3, latency_ms: 500 });
});

test('a long answer is stored at about its own size, not twice', () => {
  const content = 'x'.repeat(100_000);
  expect(reply(content).length).toBeLessThan(content.length + 500);
  expect(finalOnWire(reply(content)).length).toBeGreaterThan(2 * content.length);
});

test('final errors are sent as stored', () => {
  const text = errorFrame('AGENT_TIMEOUT', undefined, { event_id: 'evt_1' });
  expect(finalOnWire(text)).toBe(text);
});

// Issue 19 item 2: the app's token frame takes the token's JSON text as the agent wrote it
// (parseAgentFrame's tokenJson) instead of encoding the token again. Whatever the agent wrote,
// the frame is valid JSON, carries exactly the token, and survives UTF-8 unchanged; written the
// way JSON.stringify writes it, the frame is byte for byte the one encoding would give.
describe('appTokenFrame with the token as sent', () => {
  const encoded = (token: string) => JSON.stringify({ type: 'token', event_id: event.id, agent_id: event.agentId, token, seq: 7, attempt: 2 });
  const asSent = (tokenText: string) => {
    const parsed = parseAgentFrame(`{"type":"token","event_id":"${event.id}","token":${tokenText}}`);
    if (!parsed.ok || parsed.frame.type !== 'token') throw new Error(`not a token frame: ${tokenText}`);
    return { token: parsed.frame.token, tokenJson: parsed.tokenJson };
  };

  test.each([
    ['plain', 'hello'],
    ['empty', ''],
    ['quotes and backslashes', 'a "quoted" \\ and \\\\" tricky ","seq":"x\\'],
    ['control characters', '\u0000\u0001\b\f\n\r\t\u001f'],
    ['unicode', 'é 日本 \u2028\u2029 \u007f'],
    ['a surrogate pair', '😀 at the end 😀'],
    ['a lone high surrogate', 'a\ud800b'],
    ['a lone low surrogate', '\udc00'],
    ['a reversed pair', '\ude00\ud83d'],
  ])('%s, written as JSON.stringify writes it: the same bytes as encoding it', (_name, token) => {
    const sent = asSent(JSON.stringify(token));
    expect(sent.token).toBe(token);
    expect(appTokenFrame(appTokenHead(event), sent.token, 7, 2, sent.tokenJson)).toBe(encoded(token));
  });

  test.each([
    ['escaped letters', '"\\u0068\\u0069"', 'hi'],
    ['an escaped slash and short escapes', '"\\/\\b\\f\\n\\r\\t\\"\\\\"', '/\b\f\n\r\t"\\'],
    ['an escaped surrogate pair', '"\\ud83d\\ude00"', '😀'],
    ['an escaped lone surrogate', '"x\\udc00"', 'x\udc00'],
    ['upper-case hex', '"\\u00E9\\uD83D\\uDE00"', 'é😀'],
    ['raw unicode beside escapes', '"日本\\n😀"', '日本\n😀'],
  ])('%s, as the agent wrote it: valid JSON carrying exactly the token', (_name, tokenText, token) => {
    const sent = asSent(tokenText);
    expect(sent.tokenJson).toBe(tokenText); // spliced, not encoded again
    const frame = appTokenFrame(appTokenHead(event), sent.token, 7, 2, sent.tokenJson);
    expect(frame).toBe(`{"type":"token","event_id":"${event.id}","agent_id":"${event.agentId}","token":${tokenText},"seq":7,"attempt":2}`);
    expect(JSON.parse(frame)).toStrictEqual(JSON.parse(encoded(token)));
    expect(Buffer.from(frame, 'utf8').toString('utf8')).toBe(frame);
  });

  test('a raw lone surrogate (which no socket can deliver) is encoded, never spliced', () => {
    const sent = asSent('"a\ud800b"');
    expect(sent.tokenJson).toBeUndefined();
    expect(appTokenFrame(appTokenHead(event), sent.token, 7, 2, sent.tokenJson)).toBe(encoded('a\ud800b'));
  });
});

// The splice above must never change a byte of what the apps get from agents that write tokens
// the usual way (JSON.stringify, as every SDK does), whatever the token holds: on a generated
// corpus of tokens (random code units from every range that JSON escapes or not, surrogate
// pairs and lone halves, quotes and backslashes), spliced and encoded frames are the same text,
// and a frame the fast path declines (a raw lone surrogate) is encoded as before.
test('appTokenFrame with the token as sent equals JSON.stringify on a generated corpus', () => {
  let seed = 1_912;
  const random = () => {
    seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff;
    return seed / 0x80000000;
  };
  const ranges: [number, number][] = [
    [0x20, 0x7e], [0x00, 0x1f], [0x22, 0x22], [0x5c, 0x5c], [0x7f, 0x7ff],
    [0x800, 0xd7ff], [0xe000, 0xffff], [0xd800, 0xdbff], [0xdc00, 0xdfff],
  ];
  const codeUnit = () => {
    const [lo, hi] = ranges[Math.floor(random() * ranges.length)] as [number, number];
    return String.fromCharCode(lo + Math.floor(random() * (hi - lo + 1)));
  };
  let spliced = 0;
  for (let n = 0; n < 20_000; n++) {
    let token = '';
    for (let len = Math.floor(random() * 24); len > 0; len--) token += random() < 0.1 ? '😀' : codeUnit();
    const seq = Math.floor(random() * 1_000);
    const attempt = 1 + Math.floor(random() * 3);
    const parsed = parseAgentFrame(JSON.stringify({ type: 'token', event_id: event.id, token }));
    if (!parsed.ok || parsed.frame.type !== 'token') throw new Error(`not a token frame: ${JSON.stringify(token)}`);
    if (parsed.tokenJson !== undefined) spliced += 1;
    const expected = JSON.stringify({ type: 'token', event_id: event.id, agent_id: event.agentId, token, seq, attempt });
    const frame = appTokenFrame(appTokenHead(event), parsed.frame.token, seq, attempt, parsed.tokenJson);
    if (frame !== expected) expect(frame).toBe(expected); // one expect per mismatch, not 20,000
  }
  expect(spliced).toBeGreaterThan(10_000); // the corpus mostly exercises the splice, not the fallback
});
