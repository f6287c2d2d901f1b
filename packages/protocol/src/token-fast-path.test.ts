import { AgentTokenFrame } from './frames';
import { MAX_REF_LENGTH, MAX_TOKEN_TEXT_LENGTH } from './limits';
import { parseAgentFrame } from './parse';
import { parseAgentTokenFast } from './token-fast-path';

const EVT = 'evt_01J9ZQ3K8M';

/** What the general path decides for a token frame: JSON.parse, then the zod schema. */
function reference(text: string): { ok: true; frame: unknown } | { ok: false } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false };
  }
  const result = AgentTokenFrame.safeParse(value);
  return result.success ? { ok: true, frame: result.data } : { ok: false };
}

/** A small seeded generator, so a failing case can be found again. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff;
    return seed / 0x80000000;
  };
}

const TOKEN_TEXTS = [
  '',
  'This',
  ' the',
  'é😀 日本',
  'quote " and backslash \\ inside',
  'new\nline\ttab\r',
  '\u0000\u001f control characters',
  '\u2028\u2029 separators',
  '\ud800 lone high surrogate',
  '\udc00 lone low surrogate',
  '</script>',
  'x'.repeat(MAX_TOKEN_TEXT_LENGTH),
  '😀'.repeat(MAX_TOKEN_TEXT_LENGTH / 2),
  '\n'.repeat(MAX_TOKEN_TEXT_LENGTH),
];

/** Frames that obey the schema, written the way a client would write them. */
function validFrames(): string[] {
  const frames: string[] = [];
  for (const token of TOKEN_TEXTS) {
    frames.push(JSON.stringify({ type: 'token', event_id: EVT, token }));
    frames.push(JSON.stringify({ event_id: EVT, token, type: 'token' }));
    frames.push(JSON.stringify({ token, ref: 'r-1', type: 'token', event_id: EVT }));
    frames.push(JSON.stringify({ type: 'token', event_id: EVT, token }, null, 2));
  }
  frames.push(JSON.stringify({ type: 'token', event_id: `evt_${'a'.repeat(64)}`, token: 'x' }));
  frames.push(JSON.stringify({ type: 'token', event_id: EVT, token: 'x', ref: '' }));
  frames.push(JSON.stringify({ type: 'token', event_id: EVT, token: 'x', ref: 'r'.repeat(MAX_REF_LENGTH) }));
  frames.push(JSON.stringify({ type: 'token', event_id: EVT, token: 'x', ref: '😀 ref' }));
  frames.push(` \t\r\n{ "type" : "token" , "event_id" : "${EVT}" , "token" : "x" } \n`);
  frames.push(`{"type":"tok\\u0065n","event_id":"${EVT}","token":"\\u00e9\\ud83d\\ude00\\/\\b\\f"}`);
  frames.push(`{"type":"token","event_id":"evt_\\u0041bc","token":"x"}`);
  frames.push(`{"type":"token","event_id":"${EVT}","token":"${'\\n'.repeat(MAX_TOKEN_TEXT_LENGTH)}"}`);
  return frames;
}

/** Frames the fast path must not accept on its own: wrong in some way, or unusual. */
function unusualFrames(): string[] {
  const frames: string[] = [];
  const base = { type: 'token', event_id: EVT, token: 'x' } as Record<string, unknown>;
  const odd: unknown[] = [undefined, null, 5, 0, true, false, {}, [], ['x'], { a: 'x' }, 1e400, -0];
  for (const key of ['type', 'event_id', 'token', 'ref']) {
    for (const value of odd) frames.push(JSON.stringify({ ...base, [key]: value }));
  }
  for (const [key, value] of [
    ['extra', 1],
    ['extra', 'x'],
    ['Token', 'x'],
    ['payload', { a: 1 }],
    ['constructor', 'x'],
    ['toString', 'x'],
    ['hasOwnProperty', 'x'],
  ] as const) {
    frames.push(JSON.stringify({ ...base, [key]: value }));
  }
  frames.push(`{"type":"token","event_id":"${EVT}","token":"x","__proto__":{"ref":"r"}}`);
  frames.push(`{"type":"token","event_id":"${EVT}","token":"x","__proto__":"x"}`);
  // Repeated keys: JSON.parse keeps the last one.
  frames.push(`{"type":"token","type":"reply","event_id":"${EVT}","token":"x"}`);
  frames.push(`{"type":"reply","type":"token","event_id":"${EVT}","token":"x"}`);
  frames.push(`{"type":"token","event_id":"bad","event_id":"${EVT}","token":"x"}`);
  frames.push(`{"type":"token","event_id":"${EVT}","event_id":"bad","token":"x"}`);
  frames.push(`{"type":"token","event_id":"${EVT}","token":5,"token":"x"}`);
  frames.push(`{"type":"token","event_id":"${EVT}","token":"x","token":"${'y'.repeat(MAX_TOKEN_TEXT_LENGTH + 1)}"}`);
  frames.push(`{"type":"token","event_id":"${EVT}","token":"x","ref":"a","ref":"b"}`);
  // Escapes in keys, bad escapes, raw control characters, broken strings.
  frames.push(`{"\\u0074ype":"token","event_id":"${EVT}","token":"x"}`);
  frames.push(`{"type":"token","event_\\u0069d":"${EVT}","token":"x"}`);
  frames.push(`{"type":"token","event_id":"${EVT}","token":"bad \\x escape"}`);
  frames.push(`{"type":"token","event_id":"${EVT}","token":"bad \\u12 escape"}`);
  frames.push(`{"type":"token","event_id":"${EVT}","token":"raw \n newline"}`);
  frames.push(`{"type":"token","event_id":"${EVT}","token":"raw \u0000 nul"}`);
  frames.push(`{"type":"token","event_id":"${EVT}","token":"ends in a backslash\\"}`);
  frames.push(`{"type":"token","event_id":"${EVT}","token":"unterminated}`);
  frames.push(`{"type":"token","event_id":"${EVT}","token":'single'}`);
  // Lengths just past each limit, also when escapes make the raw text longer than the value.
  frames.push(JSON.stringify({ ...base, token: 'x'.repeat(MAX_TOKEN_TEXT_LENGTH + 1) }));
  frames.push(JSON.stringify({ ...base, token: '😀'.repeat(MAX_TOKEN_TEXT_LENGTH / 2) + 'x' }));
  frames.push(JSON.stringify({ ...base, token: '\n'.repeat(MAX_TOKEN_TEXT_LENGTH + 1) }));
  frames.push(JSON.stringify({ ...base, ref: 'r'.repeat(MAX_REF_LENGTH + 1) }));
  frames.push(JSON.stringify({ ...base, event_id: `evt_${'a'.repeat(65)}` }));
  frames.push(JSON.stringify({ ...base, token: 'x'.repeat(1 << 20) }));
  // Event ids and types that are almost right.
  for (const id of ['evt_', 'evt_a-b', 'EVT_abc', 'evt_abc\n', ' evt_abc', 'evt_é', 'evt_abc ', 'evt', '']) {
    frames.push(JSON.stringify({ ...base, event_id: id }));
  }
  for (const type of ['Token', 'token ', ' token', 'reply', 'tokens', '', 'TOKEN', 'tok\u0000en']) {
    frames.push(JSON.stringify({ ...base, type }));
  }
  // Not an object, empty, or with something after it.
  const good = JSON.stringify(base);
  frames.push('', ' ', 'null', '5', '"token"', '[]', `[${good}]`, '{}', '{"type":"token"}', `${good}x`, `${good}}`);
  frames.push(`${good},`, `${good}${good}`, `{,${good.slice(1)}`, good.replace('}', ',}'), good.replace(',', ',,'));
  frames.push(good.replace(':', ''), good.replace(':', '::'), good.replace(/"/g, "'"), `\u00a0${good}`, `${good}\u00a0`);
  // Every prefix of a valid frame: invalid JSON, cut anywhere.
  const withRef = JSON.stringify({ ...base, token: 'é\n"', ref: 'r' });
  for (let i = 0; i < withRef.length; i++) frames.push(withRef.slice(0, i));
  return frames;
}

/** Valid frames with one character replaced, inserted or removed, at random. */
function mutatedFrames(count: number): string[] {
  const random = prng(19);
  const seeds = [
    JSON.stringify({ type: 'token', event_id: EVT, token: 'a "b" \\ c' }),
    JSON.stringify({ type: 'token', event_id: EVT, token: 'x', ref: 'r' }),
    `{"type":"token","event_id":"${EVT}","token":"\\u00e9\\n"}`,
  ];
  const alphabet = ['"', '\\', ',', ':', '{', '}', '[', ']', ' ', '\n', 'u', '0', 'a', 'é', '😀', '\u0000', 'e', 't'];
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const frames: string[] = [];
  for (let n = 0; n < count; n++) {
    let text = pick(seeds);
    for (let edits = 1 + Math.floor(random() * 2); edits > 0; edits--) {
      const at = Math.floor(random() * (text.length + 1));
      const how = random();
      if (how < 0.4) text = text.slice(0, at) + pick(alphabet) + text.slice(at + 1);
      else if (how < 0.7) text = text.slice(0, at) + pick(alphabet) + text.slice(at);
      else text = text.slice(0, at) + text.slice(at + 1);
    }
    frames.push(text);
  }
  return frames;
}

/**
 * The token's text as sent is a JSON string of exactly the token, that may be written out as it
 * stands: no raw control character (JSON.parse would have refused it) and no lone surrogate
 * (UTF-8 cannot carry one), so it survives a trip through UTF-8 unchanged.
 */
function expectSpliceable(tokenJson: string, token: string): void {
  expect(tokenJson.startsWith('"') && tokenJson.endsWith('"')).toBe(true);
  expect(JSON.parse(tokenJson)).toBe(token);
  expect(Buffer.from(tokenJson, 'utf8').toString('utf8')).toBe(tokenJson);
}

/** The fast path, where it answers at all, says what the general path says. */
function expectAgreement(text: string): boolean {
  const fast = parseAgentTokenFast(text);
  const slow = reference(text);
  if (fast !== undefined) {
    if (!slow.ok) throw new Error(`the fast path accepted what zod rejects: ${JSON.stringify(text.slice(0, 200))}`);
    expect(fast.frame).toStrictEqual(slow.frame);
    expect(Object.keys(fast.frame)).toEqual(Object.keys(slow.frame as object));
    expectSpliceable(fast.tokenJson, fast.frame.token);
  }
  // Through parseAgentFrame, the answer for a token frame is the schema's, either way.
  let type: unknown;
  try {
    type = (JSON.parse(text) as { type?: unknown } | null)?.type;
  } catch {
    type = undefined;
  }
  if (type === 'token') {
    const parsed = parseAgentFrame(text);
    expect(parsed.ok).toBe(slow.ok);
    if (parsed.ok && slow.ok) expect(parsed.frame).toStrictEqual(slow.frame);
  }
  return fast !== undefined;
}

describe('parseAgentTokenFast', () => {
  test('takes every plainly written valid token frame, with the frame zod would return', () => {
    const frames = validFrames();
    for (const text of frames) {
      expect(reference(text).ok).toBe(true);
      if (!expectAgreement(text)) throw new Error(`the fast path declined a valid frame: ${text.slice(0, 200)}`);
    }
  });

  test('never accepts what the schema rejects, and leaves the unusual to the general path', () => {
    const frames = unusualFrames();
    let rejected = 0;
    for (const text of frames) {
      expectAgreement(text);
      if (!reference(text).ok) rejected++;
    }
    // The corpus is mostly invalid frames: a generator bug that made them valid would hide here.
    expect(rejected).toBeGreaterThan(frames.length * 0.8);
  });

  test('agrees with zod on randomly damaged frames', () => {
    const frames = mutatedFrames(20_000);
    let taken = 0;
    let valid = 0;
    for (const text of frames) {
      if (expectAgreement(text)) taken++;
      if (reference(text).ok) valid++;
    }
    // Both kinds occur, so the comparison says something either way.
    expect(taken).toBeGreaterThan(100);
    expect(frames.length - valid).toBeGreaterThan(10_000);
  });

  test('gives the token as written, and leaves a raw lone surrogate to the general path', () => {
    const escaped = `{"type":"token","event_id":"${EVT}","token":"\\u0068i \\ud83d\\ude00 😀\\n"}`;
    expect(parseAgentTokenFast(escaped)?.tokenJson).toBe('"\\u0068i \\ud83d\\ude00 😀\\n"');
    for (const token of ['a\ud800', '\udc00b', '\ude00\ud83d', 'x\\n\ud800']) {
      const text = `{"type":"token","event_id":"${EVT}","token":"${token}"}`;
      expect(parseAgentTokenFast(text)).toBeUndefined();
      const parsed = parseAgentFrame(text);
      expect(parsed.ok).toBe(true);
      expect(parsed.ok ? parsed.tokenJson : 'refused').toBeUndefined();
    }
  });

  test('keeps an absent ref absent, as zod does', () => {
    const frame = parseAgentTokenFast(JSON.stringify({ type: 'token', event_id: EVT, token: 'x' }))?.frame;
    expect(frame).toStrictEqual({ type: 'token', event_id: EVT, token: 'x' });
    expect(frame && 'ref' in frame).toBe(false);
  });
});
