import { MAX_NESTING_DEPTH, MAX_TOKEN_TEXT_LENGTH } from './limits';
import { type FrameError, type Parsed, parseAgentFrame, parseAppFrame } from './parse';

const EVT = 'evt_01J9ZQ3K8M';
const BOTH_PARSERS: Array<(text: string) => Parsed<unknown>> = [parseAppFrame, parseAgentFrame];

// ── helpers ─────────────────────────────────────────────────────────────────

function expectOk<F>(result: Parsed<F>): { frame: F; payloadRaw?: string } {
  if (!result.ok) throw new Error(`expected ok, got ${JSON.stringify(result.error)}`);
  return result;
}

function expectError<F>(result: Parsed<F>, code: FrameError['code']): FrameError {
  if (result.ok) throw new Error(`expected ${code}, got ok ${JSON.stringify(result.frame)}`);
  expect(result.error.code).toBe(code);
  expect(typeof result.error.message).toBe('string');
  expect(result.error.message.length).toBeGreaterThan(0);
  return result.error;
}

function detailPaths(error: FrameError): string[] {
  return (error.details ?? []).map((d) => d.path);
}

/** A valid app `event` frame, with fields overridden; `undefined` removes a field. */
function event(overrides: Record<string, unknown> = {}): string {
  const frame: Record<string, unknown> = {
    type: 'event',
    agent_id: 'athena',
    thread_id: 'portal:task-123:comment-456',
    payload: { event: 'comment.mention', task_id: 'task-123' },
    ...overrides,
  };
  for (const key of Object.keys(frame)) if (frame[key] === undefined) delete frame[key];
  return JSON.stringify(frame);
}

/** An event whose payload is given as raw JSON text. */
function eventWithRawPayload(payloadText: string, extra = ''): string {
  return `{"type":"event","agent_id":"athena","thread_id":"portal:task-1"${extra},"payload":${payloadText}}`;
}

function token(overrides: Record<string, unknown> = {}): string {
  const frame: Record<string, unknown> = { type: 'token', event_id: EVT, token: 'This', ...overrides };
  for (const key of Object.keys(frame)) if (frame[key] === undefined) delete frame[key];
  return JSON.stringify(frame);
}

function reply(overrides: Record<string, unknown> = {}): string {
  const frame: Record<string, unknown> = {
    type: 'reply',
    event_id: EVT,
    content: 'This discussion covers…',
    finish_reason: 'stop',
    ...overrides,
  };
  for (const key of Object.keys(frame)) if (frame[key] === undefined) delete frame[key];
  return JSON.stringify(frame);
}

// ── app → relay: accepted frames ────────────────────────────────────────────

describe('parseAppFrame: valid frames', () => {
  test('the PROTOCOL.md event example', () => {
    const { frame, payloadRaw } = expectOk(
      parseAppFrame(
        '{"type":"event","agent_id":"athena","thread_id":"portal:task-123:comment-456",\n "payload":{"event":"comment.mention","task_id":"task-123"}}',
      ),
    );
    expect(frame).toEqual({
      type: 'event',
      agent_id: 'athena',
      thread_id: 'portal:task-123:comment-456',
      payload: { event: 'comment.mention', task_id: 'task-123' },
    });
    expect(payloadRaw).toBe('{"event":"comment.mention","task_id":"task-123"}');
  });

  test.each<[string, unknown]>([
    ['object', { a: 1, b: [true, null] }],
    ['empty object', {}],
    ['string', 'hello'],
    ['empty string', ''],
    ['array', [1, 'two', { three: 3 }]],
    ['empty array', []],
    ['number', 42],
    ['negative float', -1.25],
    ['zero', 0],
    ['null', null],
    ['true', true],
    ['false', false],
  ])('event with a %s payload', (_kind, payload) => {
    const { frame, payloadRaw } = expectOk(parseAppFrame(event({ payload })));
    expect(frame).toMatchObject({ type: 'event', agent_id: 'athena' });
    expect((frame as { payload: unknown }).payload).toEqual(payload);
    expect('payload' in frame).toBe(true);
    expect(payloadRaw).toBe(JSON.stringify(payload));
  });

  test('event with ttl_ms, idempotency_key and ref', () => {
    const { frame } = expectOk(
      parseAppFrame(event({ ttl_ms: 60_000, idempotency_key: 'portal-comment-456', ref: 'send-7' })),
    );
    expect(frame).toMatchObject({ ttl_ms: 60_000, idempotency_key: 'portal-comment-456', ref: 'send-7' });
  });

  test.each([1, 3_600_000, 86_400_000])('event with ttl_ms %d', (ttl) => {
    expect(expectOk(parseAppFrame(event({ ttl_ms: ttl }))).frame).toMatchObject({ ttl_ms: ttl });
  });

  test.each([
    ['one character', 'a'],
    ['64 characters', 'a'.repeat(64)],
    ['digit first', '0agent'],
    ['dash and underscore', 'my_agent-2'],
  ])('agent_id: %s', (_name, agentId) => {
    expect(expectOk(parseAppFrame(event({ agent_id: agentId }))).frame).toMatchObject({ agent_id: agentId });
  });

  test.each([
    ['one character', 'x'],
    ['256 characters', 't'.repeat(256)],
    ['slashes', 'portal/tasks/123/comments/456'],
    ['colons', 'a:b:c:d:e'],
    ['all the punctuation :/._-@#', 'flow:run/1.2_3-4@x#5'],
    ['mixed case and digits', 'Portal:Task-ABC:99'],
  ])('thread_id: %s', (_name, threadId) => {
    expect(expectOk(parseAppFrame(event({ thread_id: threadId }))).frame).toMatchObject({ thread_id: threadId });
  });

  test('ref of 128 characters', () => {
    const ref = 'r'.repeat(128);
    expect(expectOk(parseAppFrame(event({ ref }))).frame).toMatchObject({ ref });
  });

  test.each<[string, Record<string, unknown>]>([
    ['discover', { type: 'discover' }],
    ['discover with ref', { type: 'discover', ref: 'd1' }],
    ['cancel', { type: 'cancel', event_id: EVT }],
    ['cancel with ref', { type: 'cancel', event_id: EVT, ref: 'c1' }],
    ['resume', { type: 'resume', event_id: EVT }],
    ['resume from the start', { type: 'resume', event_id: EVT, after_seq: -1, ref: 'r1' }],
    ['resume after a seq of an attempt', { type: 'resume', event_id: EVT, after_seq: 41, attempt: 2 }],
    ['ping', { type: 'ping' }],
    ['pong', { type: 'pong' }],
  ])('%s', (_name, input) => {
    const result = expectOk(parseAppFrame(JSON.stringify(input)));
    expect(result.frame).toEqual(input);
    expect(result.payloadRaw).toBeUndefined();
  });

  test('surrounding whitespace is fine', () => {
    expect(expectOk(parseAppFrame(' \n\t{"type":"ping"}\r\n ')).frame).toEqual({ type: 'ping' });
  });

  test('unknown extra fields are tolerated and not passed on', () => {
    const { frame } = expectOk(parseAppFrame(event({ event_id: 'evt_client_made', extra: 1 })));
    expect(frame).not.toHaveProperty('extra');
    expect(frame).not.toHaveProperty('event_id');
  });
});

// ── app → relay: rejected frames ────────────────────────────────────────────

describe('parseAppFrame: INVALID_JSON', () => {
  test.each([
    ['empty string', ''],
    ['only whitespace', '   \n'],
    ['plain text', 'hello relay'],
    ['replacement characters', '\ufffd\ufffd\ufffd'],
    ['truncated object', '{"type":"event","agent_id":"athena"'],
    ['trailing comma', '{"type":"ping",}'],
    ['single quotes', "{'type':'ping'}"],
    ['unquoted key', '{type:"ping"}'],
    ['two objects', '{"type":"ping"}{"type":"pong"}'],
    ['trailing garbage', '{"type":"ping"} x'],
    ['NaN', '{"type":"event","agent_id":"athena","thread_id":"t","payload":NaN}'],
    ['undefined', 'undefined'],
    ['comment', '{"type":"ping"} // hi'],
    ['raw control character in a string', '{"type":"ping","ref":"a\nb"}'],
  ])('%s', (_name, text) => {
    const error = expectError(parseAppFrame(text), 'INVALID_JSON');
    expect(error.details).toBeUndefined();
    expect(error.ref).toBeUndefined();
    expect(error.event_id).toBeUndefined();
  });

  test('the agent parser says the same', () => {
    expectError(parseAgentFrame('{"type":"reply",'), 'INVALID_JSON');
    expectError(parseAgentFrame(''), 'INVALID_JSON');
  });
});

describe('parseAppFrame: INVALID_MESSAGE', () => {
  test.each([
    ['array', '[]'],
    ['array of a frame', '[{"type":"ping"}]'],
    ['number', '42'],
    ['string', '"x"'],
    ['null', 'null'],
    ['boolean', 'true'],
  ])('non-object frame: %s', (_name, text) => {
    for (const parse of BOTH_PARSERS) {
      const error = expectError(parse(text), 'INVALID_MESSAGE');
      expect(detailPaths(error)).toEqual(['']);
    }
  });

  test.each([
    ['missing type', '{"agent_id":"athena"}'],
    ['empty object', '{}'],
    ['numeric type', '{"type":1}'],
    ['null type', '{"type":null}'],
    ['array type', '{"type":["ping"]}'],
    ['object type', '{"type":{"name":"ping"}}'],
  ])('%s', (_name, text) => {
    for (const parse of BOTH_PARSERS) {
      const error = expectError(parse(text), 'INVALID_MESSAGE');
      expect(detailPaths(error)).toEqual(['type']);
    }
  });

  test.each<[string, Record<string, unknown>, string]>([
    ['missing payload', { payload: undefined }, 'payload'],
    ['missing agent_id', { agent_id: undefined }, 'agent_id'],
    ['missing thread_id', { thread_id: undefined }, 'thread_id'],
    ['agent_id uppercase', { agent_id: 'Athena' }, 'agent_id'],
    ['agent_id 65 chars', { agent_id: 'a'.repeat(65) }, 'agent_id'],
    ['agent_id starting with -', { agent_id: '-athena' }, 'agent_id'],
    ['agent_id starting with _', { agent_id: '_athena' }, 'agent_id'],
    ['agent_id empty', { agent_id: '' }, 'agent_id'],
    ['agent_id with a dot', { agent_id: 'ath.ena' }, 'agent_id'],
    ['agent_id a number', { agent_id: 42 }, 'agent_id'],
    ['agent_id null', { agent_id: null }, 'agent_id'],
    ['thread_id empty', { thread_id: '' }, 'thread_id'],
    ['thread_id 257 chars', { thread_id: 't'.repeat(257) }, 'thread_id'],
    ['thread_id with a space', { thread_id: 'portal:task 1' }, 'thread_id'],
    ['thread_id with ?', { thread_id: 'portal:task?1' }, 'thread_id'],
    ['thread_id with a newline', { thread_id: 'portal\n' }, 'thread_id'],
    ['thread_id non-ASCII', { thread_id: 'tâche' }, 'thread_id'],
    ['thread_id a number', { thread_id: 123 }, 'thread_id'],
    ['thread_id an array', { thread_id: ['a'] }, 'thread_id'],
    ['ttl_ms 0', { ttl_ms: 0 }, 'ttl_ms'],
    ['ttl_ms negative', { ttl_ms: -1000 }, 'ttl_ms'],
    ['ttl_ms float', { ttl_ms: 1.5 }, 'ttl_ms'],
    ['ttl_ms a string', { ttl_ms: '1000' }, 'ttl_ms'],
    ['ttl_ms null', { ttl_ms: null }, 'ttl_ms'],
    ['idempotency_key empty', { idempotency_key: '' }, 'idempotency_key'],
    ['idempotency_key 257 chars', { idempotency_key: 'k'.repeat(257) }, 'idempotency_key'],
    ['idempotency_key a number', { idempotency_key: 7 }, 'idempotency_key'],
    ['ref 129 chars', { ref: 'r'.repeat(129) }, 'ref'],
    ['ref a number', { ref: 5 }, 'ref'],
    ['ref an object', { ref: { id: 1 } }, 'ref'],
  ])('event: %s → details name %s', (_name, overrides, path) => {
    const error = expectError(parseAppFrame(event(overrides)), 'INVALID_MESSAGE');
    expect(detailPaths(error)).toEqual([path]);
    expect(error.message).toContain(path);
    for (const detail of error.details ?? []) expect(detail.message.length).toBeGreaterThan(0);
  });

  test('several bad fields are all listed', () => {
    const error = expectError(
      parseAppFrame(event({ agent_id: 'ATHENA', thread_id: '', payload: undefined, ttl_ms: 0 })),
      'INVALID_MESSAGE',
    );
    expect(detailPaths(error).sort()).toEqual(['agent_id', 'payload', 'thread_id', 'ttl_ms']);
  });

  test.each<[string, Record<string, unknown>, string]>([
    ['cancel without event_id', { type: 'cancel' }, 'event_id'],
    ['cancel with a malformed event_id', { type: 'cancel', event_id: 'bogus' }, 'event_id'],
    ['cancel with a numeric event_id', { type: 'cancel', event_id: 12 }, 'event_id'],
    ['resume without event_id', { type: 'resume', after_seq: 3 }, 'event_id'],
    ['resume after seq -2', { type: 'resume', event_id: EVT, after_seq: -2 }, 'after_seq'],
    ['resume after a fractional seq', { type: 'resume', event_id: EVT, after_seq: 1.5 }, 'after_seq'],
    ['resume with attempt 0', { type: 'resume', event_id: EVT, attempt: 0 }, 'attempt'],
    ['resume with a string attempt', { type: 'resume', event_id: EVT, attempt: '1' }, 'attempt'],
    ['discover with a numeric ref', { type: 'discover', ref: 1 }, 'ref'],
    ['ping with a long ref', { type: 'ping', ref: 'r'.repeat(129) }, 'ref'],
  ])('%s', (_name, input, path) => {
    const error = expectError(parseAppFrame(JSON.stringify(input)), 'INVALID_MESSAGE');
    expect(detailPaths(error)).toEqual([path]);
  });
});

describe('UNKNOWN_TYPE', () => {
  test.each([
    'token', // agent → relay only
    'reply', // agent → relay only
    'accepted',
    'agents',
    'error',
    'Event',
    'EVENT',
    '',
    'subscribe',
    '__proto__',
    'constructor',
    'toString',
    'hasOwnProperty',
  ])('app sending %j', (type) => {
    const text =
      type === 'token' ? token() : type === 'reply' ? reply() : JSON.stringify({ type, agent_id: 'athena' });
    const error = expectError(parseAppFrame(text), 'UNKNOWN_TYPE');
    expect(error.details).toBeUndefined();
  });

  test.each([
    ['event', event()],
    ['discover', '{"type":"discover"}'],
    ['cancel', `{"type":"cancel","event_id":"${EVT}"}`],
    ['resume', `{"type":"resume","event_id":"${EVT}"}`],
    ['accepted', '{"type":"accepted"}'],
    ['__proto__', '{"type":"__proto__"}'],
    ['constructor', '{"type":"constructor"}'],
    ['valueOf', '{"type":"valueOf"}'],
  ])('agent sending %j', (_type, text) => {
    const error = expectError(parseAgentFrame(text), 'UNKNOWN_TYPE');
    expect(error.details).toBeUndefined();
  });

  test('the type name is in the message, cut short when long', () => {
    expect(expectError(parseAppFrame('{"type":"subscribe"}'), 'UNKNOWN_TYPE').message).toContain('subscribe');
    const long = 'x'.repeat(10_000);
    expect(expectError(parseAppFrame(`{"type":"${long}"}`), 'UNKNOWN_TYPE').message.length).toBeLessThan(200);
  });
});

// ── payload size ────────────────────────────────────────────────────────────

describe('PAYLOAD_TOO_LARGE', () => {
  const LIMIT = 64_000;
  const stringPayload = (chars: string) => JSON.stringify(chars);

  test('a string payload of exactly 64,000 bytes passes', () => {
    const payload = stringPayload('a'.repeat(LIMIT - 2));
    expect(Buffer.byteLength(payload)).toBe(LIMIT);
    const { payloadRaw } = expectOk(parseAppFrame(eventWithRawPayload(payload)));
    expect(payloadRaw).toBe(payload);
  });

  test('a string payload of 64,001 bytes fails', () => {
    const payload = stringPayload('a'.repeat(LIMIT - 1));
    expect(Buffer.byteLength(payload)).toBe(LIMIT + 1);
    const error = expectError(parseAppFrame(eventWithRawPayload(payload)), 'PAYLOAD_TOO_LARGE');
    expect(error.message).toContain('64001');
  });

  test('an object payload of exactly 64,000 bytes passes, 64,001 fails', () => {
    const exact = `{"d":"${'x'.repeat(LIMIT - 8)}"}`;
    const over = `{"d":"${'x'.repeat(LIMIT - 7)}"}`;
    expect(Buffer.byteLength(exact)).toBe(LIMIT);
    expect(Buffer.byteLength(over)).toBe(LIMIT + 1);
    expectOk(parseAppFrame(eventWithRawPayload(exact)));
    expectError(parseAppFrame(eventWithRawPayload(over)), 'PAYLOAD_TOO_LARGE');
  });

  test('multi-byte UTF-8 is counted in bytes: 31,999 × é plus quotes is exactly 64,000 bytes', () => {
    const payload = stringPayload('é'.repeat(31_999));
    expect(payload.length).toBe(32_001);
    expect(Buffer.byteLength(payload)).toBe(LIMIT);
    const { frame } = expectOk(parseAppFrame(eventWithRawPayload(payload)));
    expect((frame as { payload: unknown }).payload).toHaveLength(31_999);
  });

  test('multi-byte UTF-8: one more byte fails', () => {
    const payload = stringPayload(`${'é'.repeat(31_999)}a`);
    expect(Buffer.byteLength(payload)).toBe(LIMIT + 1);
    expectError(parseAppFrame(eventWithRawPayload(payload)), 'PAYLOAD_TOO_LARGE');
  });

  test('multi-byte UTF-8: far fewer than 64,000 characters can still be too large', () => {
    const payload = stringPayload('é'.repeat(32_001));
    expect(payload.length).toBeLessThan(LIMIT);
    expect(Buffer.byteLength(payload)).toBe(64_004);
    expectError(parseAppFrame(eventWithRawPayload(payload)), 'PAYLOAD_TOO_LARGE');
  });

  test('emoji (4 bytes each) are counted in bytes', () => {
    const exact = stringPayload(`${'😀'.repeat(15_999)}aa`); // 2 + 63,996 + 2
    const over = stringPayload(`${'😀'.repeat(15_999)}aaa`);
    expect(Buffer.byteLength(exact)).toBe(LIMIT);
    expectOk(parseAppFrame(eventWithRawPayload(exact)));
    expectError(parseAppFrame(eventWithRawPayload(over)), 'PAYLOAD_TOO_LARGE');
  });

  test('the payload is measured as sent: \\u escapes count as their six characters', () => {
    const escaped = `"${'\\u00e9'.repeat(10_667)}"`; // 2 + 64,002 bytes of text
    expect(Buffer.byteLength(escaped)).toBe(64_004);
    expectError(parseAppFrame(eventWithRawPayload(escaped)), 'PAYLOAD_TOO_LARGE');
  });

  test('only the payload counts, not the envelope or the whitespace around the value', () => {
    const payload = stringPayload('a'.repeat(LIMIT - 2));
    const text = `{"type":"event","agent_id":"athena","thread_id":"${'t'.repeat(256)}","ref":"${'r'.repeat(128)}","payload" :  \n ${payload}  \n }`;
    expect(Buffer.byteLength(text)).toBeGreaterThan(LIMIT + 400);
    expectOk(parseAppFrame(text));
  });

  test('the error echoes ref and has no details', () => {
    const payload = stringPayload('a'.repeat(LIMIT));
    const error = expectError(parseAppFrame(eventWithRawPayload(payload, ',"ref":"big-1"')), 'PAYLOAD_TOO_LARGE');
    expect(error.ref).toBe('big-1');
    expect(error.details).toBeUndefined();
  });
});

// ── nesting depth ───────────────────────────────────────────────────────────

describe('nesting depth', () => {
  /** JSON of `levels` objects nested in each other: `{"a":{"a":…{}}}`. */
  const nested = (levels: number) => '{"a":'.repeat(levels - 1) + '{}' + '}'.repeat(levels - 1);

  test('a frame nested exactly to the limit passes (the frame is level 1)', () => {
    // frame (1) → metadata (2) → … : metadata may nest MAX_NESTING_DEPTH - 1 levels
    expectOk(parseAgentFrame(`{"type":"reply","event_id":"${EVT}","content":"hi","finish_reason":"stop","metadata":${nested(MAX_NESTING_DEPTH - 1)}}`));
    expectOk(parseAppFrame(event({ payload: JSON.parse(nested(MAX_NESTING_DEPTH - 1)) })));
  });

  test.each<[string, (levels: number) => string, (text: string) => Parsed<unknown>]>([
    ['reply metadata', (n) => `{"type":"reply","event_id":"${EVT}","ref":"r-d","content":"hi","finish_reason":"stop","metadata":${nested(n)}}`, parseAgentFrame],
    ['event payload', (n) => `{"type":"event","agent_id":"athena","thread_id":"portal:t","ref":"r-d","payload":${nested(n)}}`, parseAppFrame],
    ['an array, in an unknown field', (n) => `{"type":"ping","ref":"r-d","x":${'['.repeat(n)}${']'.repeat(n)}}`, parseAppFrame],
  ])('one level more is INVALID_MESSAGE, echoing the ref: %s', (_name, frame, parse) => {
    expectOk(parse(frame(MAX_NESTING_DEPTH - 1)));
    const error = expectError(parse(frame(MAX_NESTING_DEPTH)), 'INVALID_MESSAGE');
    expect(error.ref).toBe('r-d');
    expect(error.message).toContain(String(MAX_NESTING_DEPTH));
  });

  test('5,000 levels (the frame that once left an event without a final) is refused, not thrown', () => {
    const text = `{"type":"reply","event_id":"${EVT}","content":"hi","finish_reason":"stop","metadata":${nested(5_000)}}`;
    expect(expectError(parseAgentFrame(text), 'INVALID_MESSAGE').event_id).toBe(EVT);
  });
});

// ── echo of ref and event_id ────────────────────────────────────────────────

describe('errors echo ref and event_id', () => {
  test.each<[string, () => Parsed<unknown>, string, { ref?: string; event_id?: string }]>([
    ['INVALID_MESSAGE on event', () => parseAppFrame(event({ agent_id: 'BAD', ref: 'r-1' })), 'INVALID_MESSAGE', { ref: 'r-1' }],
    ['missing type', () => parseAppFrame('{"ref":"r-2"}'), 'INVALID_MESSAGE', { ref: 'r-2' }],
    ['UNKNOWN_TYPE', () => parseAppFrame(`{"type":"nope","ref":"r-3","event_id":"${EVT}"}`), 'UNKNOWN_TYPE', { ref: 'r-3', event_id: EVT }],
    // a malformed id is not echoed, so the error frame itself stays valid (ErrorFrame schema)
    ['cancel with a malformed event_id', () => parseAppFrame('{"type":"cancel","event_id":"bogus","ref":"r-4"}'), 'INVALID_MESSAGE', { ref: 'r-4' }],
    ['ref over 128 chars', () => parseAppFrame(`{"type":"nope","ref":"${'r'.repeat(129)}"}`), 'UNKNOWN_TYPE', {}],
    ['agent token without text', () => parseAgentFrame(token({ token: undefined })), 'INVALID_MESSAGE', { event_id: EVT }],
    ['agent reply with null content', () => parseAgentFrame(reply({ content: null, ref: 'r-5' })), 'INVALID_MESSAGE', { ref: 'r-5', event_id: EVT }],
    ['agent sending event', () => parseAgentFrame(`{"type":"event","event_id":"${EVT}","ref":"r-6"}`), 'UNKNOWN_TYPE', { ref: 'r-6', event_id: EVT }],
  ])('%s', (_name, run, code, echo) => {
    const error = expectError(run(), code as FrameError['code']);
    expect(error.ref).toBe(echo.ref);
    expect(error.event_id).toBe(echo.event_id);
  });

  test.each([
    ['numeric ref', '{"type":"nope","ref":7}'],
    ['object ref', '{"type":"nope","ref":{"a":"b"}}'],
    ['numeric event_id', '{"type":"nope","event_id":7}'],
    ['null ref and event_id', '{"type":"nope","ref":null,"event_id":null}'],
  ])('a non-string is not echoed: %s', (_name, text) => {
    const error = expectError(parseAppFrame(text), 'UNKNOWN_TYPE');
    expect(error).not.toHaveProperty('ref');
    expect(error).not.toHaveProperty('event_id');
  });

  test('no ref or event_id keys when the frame had none', () => {
    const error = expectError(parseAppFrame('{"type":"nope"}'), 'UNKNOWN_TYPE');
    expect(Object.keys(error).sort()).toEqual(['code', 'message']);
  });
});

// ── payloadRaw ──────────────────────────────────────────────────────────────

describe('payloadRaw is the payload exactly as sent', () => {
  test.each([
    ['big integer', '12345678901234567890'],
    ['big integer inside an object', '{"id":12345678901234567890,"n":1}'],
    ['number spelling', '1.0e2'],
    ['negative zero', '-0'],
    ['long decimal', '0.10000000000000000000001'],
    ['whitespace', '{ "a" :  [ 1 ,\n\t2 ] ,\r\n "b" : "x" }'],
    ['braces and brackets inside strings', '{"text":"} ] { [ },","k":"{"}'],
    ['quotes and escaped quotes', '{"q":"she said \\"hi\\" {ok}","e":"\\\\"}'],
    ['backslash at the end of a string', '["a\\\\","b"]'],
    ['unicode escapes kept as escapes', '"\\u00e9\\ud83d\\ude00"'],
    ['raw non-ASCII', '"éß日本😀"'],
    ['duplicate keys inside the payload', '{"a":1,"a":2}'],
    ['deep nesting', '[[[[{"a":[[{"b":{}}]]}]]]]'],
    ['a payload that looks like a frame', '{"type":"event","payload":{"payload":1}}'],
  ])('%s', (_name, raw) => {
    const text = eventWithRawPayload(raw);
    const { frame, payloadRaw } = expectOk(parseAppFrame(text));
    expect(payloadRaw).toBe(raw);
    expect((frame as { payload: unknown }).payload).toEqual(JSON.parse(raw));
  });

  test('a big integer survives in payloadRaw but not in the parsed frame', () => {
    const { frame, payloadRaw } = expectOk(parseAppFrame(eventWithRawPayload('12345678901234567890')));
    expect(payloadRaw).toBe('12345678901234567890');
    expect(String((frame as { payload: unknown }).payload)).not.toBe('12345678901234567890');
  });

  test.each([
    ['first', '{"payload":{"k":"v"},"type":"event","agent_id":"athena","thread_id":"t"}'],
    ['middle', '{"type":"event","agent_id":"athena","payload":{"k":"v"},"thread_id":"t"}'],
    ['last', '{"type":"event","agent_id":"athena","thread_id":"t","payload":{"k":"v"}}'],
    ['last, with spacing', '{ "type" : "event" , "agent_id" : "athena" , "thread_id" : "t" , "payload" : {"k":"v"} }'],
  ])('payload %s in the frame', (_pos, text) => {
    expect(expectOk(parseAppFrame(text)).payloadRaw).toBe('{"k":"v"}');
  });

  test('duplicate payload keys: the last wins, as in JSON.parse', () => {
    const text = '{"type":"event","agent_id":"athena","thread_id":"t","payload":{"v":1},"payload":[2, 3]}';
    const { frame, payloadRaw } = expectOk(parseAppFrame(text));
    expect(payloadRaw).toBe('[2, 3]');
    expect((frame as { payload: unknown }).payload).toEqual([2, 3]);
  });

  test('a payload key written with escapes', () => {
    const text = '{"type":"event","agent_id":"athena","thread_id":"t","pay\\u006coad":{"x":"y"}}';
    const { frame, payloadRaw } = expectOk(parseAppFrame(text));
    expect(payloadRaw).toBe('{"x":"y"}');
    expect((frame as { payload: unknown }).payload).toEqual({ x: 'y' });
  });

  test('an escaped and a plain payload key: the last one wins', () => {
    const text = '{"type":"event","agent_id":"athena","thread_id":"t","payload":1,"\\u0070ayload":2}';
    const { frame, payloadRaw } = expectOk(parseAppFrame(text));
    expect(payloadRaw).toBe('2');
    expect((frame as { payload: unknown }).payload).toBe(2);
  });

  test('other fields whose values mention "payload" do not confuse it', () => {
    const text = '{"ref":"\\"payload\\":0","type":"event","agent_id":"athena","thread_id":"t","payload":"real"}';
    expect(expectOk(parseAppFrame(text)).payloadRaw).toBe('"real"');
  });
});

// ── agent → relay ───────────────────────────────────────────────────────────

describe('parseAgentFrame: token', () => {
  test.each<[string, Record<string, unknown>]>([
    ['a piece of text', {}],
    ['an empty piece', { token: '' }],
    ['with ref', { ref: 't-1' }],
    ['unicode', { token: 'é😀 日本' }],
    ['longest allowed', { token: 'x'.repeat(MAX_TOKEN_TEXT_LENGTH) }],
  ])('accepts %s', (_name, overrides) => {
    const text = token(overrides);
    const { frame, payloadRaw } = expectOk(parseAgentFrame(text));
    expect(frame).toEqual(JSON.parse(text));
    expect(payloadRaw).toBeUndefined();
  });

  test.each<[string, Record<string, unknown>, string]>([
    ['missing token', { token: undefined }, 'token'],
    ['numeric token', { token: 5 }, 'token'],
    ['null token', { token: null }, 'token'],
    ['too long a token', { token: 'x'.repeat(MAX_TOKEN_TEXT_LENGTH + 1) }, 'token'],
    ['missing event_id', { event_id: undefined }, 'event_id'],
    ['malformed event_id', { event_id: 'evt_…' }, 'event_id'],
    ['event_id without prefix', { event_id: '01J9ZQ3K8M' }, 'event_id'],
    ['long ref', { ref: 'r'.repeat(129) }, 'ref'],
  ])('rejects %s', (_name, overrides, path) => {
    const error = expectError(parseAgentFrame(token(overrides)), 'INVALID_MESSAGE');
    expect(detailPaths(error)).toEqual([path]);
  });
});

describe('parseAgentFrame: reply', () => {
  test.each<[string, Record<string, unknown>]>([
    ['stop', {}],
    ['length', { finish_reason: 'length', content: 'This was cut' }],
    ['error with null content', { finish_reason: 'error', content: null, error: 'model overloaded' }],
    ['error with partial content', { finish_reason: 'error', content: 'partial', error: 'boom' }],
    ['error with null content and no error text', { finish_reason: 'error', content: null }],
    ['empty content', { content: '' }],
    ['payload echo', { payload: { event: 'comment.mention' } }],
    ['metadata', { metadata: { model: 'gpt-x', tokens_used: 12, nested: { a: [1] } } }],
    ['empty metadata', { metadata: {} }],
    ['ref', { ref: 'rep-1' }],
  ])('accepts %s', (_name, overrides) => {
    const text = reply(overrides);
    const { frame } = expectOk(parseAgentFrame(text));
    expect(frame).toEqual(JSON.parse(text));
  });

  test.each<[string, unknown]>([
    ['object', { a: 1 }],
    ['string', 'text'],
    ['array', [1, 2]],
    ['number', 3.5],
    ['null', null],
  ])('a %s payload is kept with its raw text', (_kind, payload) => {
    const { frame, payloadRaw } = expectOk(parseAgentFrame(reply({ payload })));
    expect((frame as { payload?: unknown }).payload).toEqual(payload);
    expect(payloadRaw).toBe(JSON.stringify(payload));
  });

  test('raw payload text is kept verbatim in a reply too', () => {
    const text = `{"type":"reply","event_id":"${EVT}","payload":{ "id" : 12345678901234567890 },"content":"ok","finish_reason":"stop"}`;
    expect(expectOk(parseAgentFrame(text)).payloadRaw).toBe('{ "id" : 12345678901234567890 }');
  });

  test('without a payload there is no payloadRaw', () => {
    const result = expectOk(parseAgentFrame(reply()));
    expect(result.payloadRaw).toBeUndefined();
    expect(result.frame).not.toHaveProperty('payload');
  });

  test.each<[string, Record<string, unknown>, string]>([
    ['null content with stop', { content: null, finish_reason: 'stop' }, 'content'],
    ['null content with length', { content: null, finish_reason: 'length' }, 'content'],
    ['missing content', { content: undefined }, 'content'],
    ['numeric content', { content: 42 }, 'content'],
    ['object content', { content: { text: 'x' } }, 'content'],
    ['missing finish_reason', { finish_reason: undefined }, 'finish_reason'],
    ['unknown finish_reason', { finish_reason: 'done' }, 'finish_reason'],
    ['uppercase finish_reason', { finish_reason: 'STOP' }, 'finish_reason'],
    ['numeric error text', { finish_reason: 'error', content: null, error: 500 }, 'error'],
    ['array metadata', { metadata: [1, 2] }, 'metadata'],
    ['string metadata', { metadata: 'gpt' }, 'metadata'],
    ['null metadata', { metadata: null }, 'metadata'],
    ['missing event_id', { event_id: undefined }, 'event_id'],
    ['malformed event_id', { event_id: 'evt-1' }, 'event_id'],
    ['numeric ref', { ref: 1 }, 'ref'],
  ])('rejects %s', (_name, overrides, path) => {
    const error = expectError(parseAgentFrame(reply(overrides)), 'INVALID_MESSAGE');
    expect(detailPaths(error)).toEqual([path]);
  });
});

describe('parseAgentFrame: ping and pong', () => {
  test.each([{ type: 'ping' }, { type: 'pong' }, { type: 'ping', ref: 'p' }])('accepts %j', (input) => {
    expect(expectOk(parseAgentFrame(JSON.stringify(input))).frame).toEqual(input);
  });
});
