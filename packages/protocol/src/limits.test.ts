import {
  AGENT_ID_PATTERN,
  EVENT_ID_PATTERN,
  MAX_PAYLOAD_BYTES,
  THREAD_ID_PATTERN,
  utf8ByteLength,
} from './limits';

describe('MAX_PAYLOAD_BYTES', () => {
  test('is 64,000 bytes as PROTOCOL.md says', () => {
    expect(MAX_PAYLOAD_BYTES).toBe(64_000);
  });
});

describe('utf8ByteLength', () => {
  test.each<[string, string, number]>([
    ['empty', '', 0],
    ['ASCII', 'hello, world {"a":1}', 20],
    ['2-byte (é)', 'é', 2],
    ['2-byte run', 'ééé', 6],
    ['2-byte boundary U+07FF', '\u07ff', 2],
    ['3-byte boundary U+0800', '\u0800', 3],
    ['3-byte (€)', '€', 3],
    ['3-byte CJK', '日本語', 9],
    ['3-byte U+FFFF', '\uffff', 3],
    ['surrogate pair (emoji)', '😀', 4],
    ['emoji ZWJ sequence', '👩‍💻', 11],
    ['mixed', 'aé€😀', 1 + 2 + 3 + 4],
    ['lone high surrogate at end', 'a\ud83d', 4],
    ['lone high surrogate followed by ASCII', '\ud83dx', 4],
    ['lone low surrogate', '\ude00', 3],
    ['two high surrogates then a low (one lone + one pair)', '\ud83d\ud83d\ude00', 7],
    ['reversed pair (low then high)', '\ude00\ud83d', 6],
  ])('%s', (_name, text, expected) => {
    expect(utf8ByteLength(text)).toBe(expected);
    expect(utf8ByteLength(text)).toBe(Buffer.byteLength(text, 'utf8'));
  });

  test('matches Buffer.byteLength on every BMP code unit and around the surrogate range', () => {
    const mismatches: number[] = [];
    for (let c = 0; c <= 0xffff; c++) {
      const s = String.fromCharCode(c);
      if (utf8ByteLength(s) !== Buffer.byteLength(s, 'utf8')) mismatches.push(c);
    }
    expect(mismatches).toEqual([]);
  });

  test('matches Buffer.byteLength on a long mixed string', () => {
    const text = 'aé€😀\ud800b'.repeat(5000);
    expect(utf8ByteLength(text)).toBe(Buffer.byteLength(text, 'utf8'));
  });
});

describe('id patterns', () => {
  test.each(['athena', 'klyve', 'a', '0', 'agent-1', 'agent_1', 'a'.repeat(64), '9lives'])(
    'agent id %j is valid',
    (id) => expect(AGENT_ID_PATTERN.test(id)).toBe(true),
  );
  test.each(['', 'Athena', 'a'.repeat(65), '-athena', '_athena', 'ath ena', 'ath.ena', 'athena\n', 'athéna'])(
    'agent id %j is invalid',
    (id) => expect(AGENT_ID_PATTERN.test(id)).toBe(false),
  );

  test.each(['t', 'portal:task-123:comment-456', 'a/b/c', 'x@y#z._-', 'T'.repeat(256)])(
    'thread id %j is valid',
    (id) => expect(THREAD_ID_PATTERN.test(id)).toBe(true),
  );
  test.each(['', 'T'.repeat(257), 'a b', 'a?b', 'a\nb', 'a%20b', 'tâche', 'a\\b'])(
    'thread id %j is invalid',
    (id) => expect(THREAD_ID_PATTERN.test(id)).toBe(false),
  );

  test.each(['evt_01J9ZQ3K8M', 'evt_1', `evt_${'A'.repeat(64)}`])('event id %j is valid', (id) =>
    expect(EVENT_ID_PATTERN.test(id)).toBe(true),
  );
  test.each(['evt_', '01J9ZQ3K8M', 'evt-01J9ZQ3K8M', 'evt_01J9 ZQ3', `evt_${'A'.repeat(65)}`, 'EVT_1', 'evt_…'])(
    'event id %j is invalid',
    (id) => expect(EVENT_ID_PATTERN.test(id)).toBe(false),
  );
});
