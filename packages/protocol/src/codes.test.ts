import {
  CloseCode,
  DEFAULT_ERROR_MESSAGES,
  ERROR_CODES,
  ErrorCode,
  FINAL_ERROR_CODES,
  RETRYABLE_ERROR_CODES,
} from './codes';

/** The error table of PROTOCOL.md, in its order. */
const PROTOCOL_ERROR_CODES = [
  'INVALID_JSON',
  'INVALID_MESSAGE',
  'UNKNOWN_TYPE',
  'PAYLOAD_TOO_LARGE',
  'AGENT_NOT_FOUND',
  'ALLOWLIST_DENIED',
  'RATE_LIMITED',
  'QUEUE_FULL',
  'UNKNOWN_EVENT',
  'EVENT_EXPIRED',
  'AGENT_TIMEOUT',
  'CANCELLED',
  'RELAY_UNAVAILABLE',
];

describe('error codes', () => {
  test('ERROR_CODES is exactly the codes of PROTOCOL.md, without duplicates', () => {
    expect([...ERROR_CODES].sort()).toEqual([...PROTOCOL_ERROR_CODES].sort());
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
  });

  test('each ErrorCode value equals its key', () => {
    for (const [key, value] of Object.entries(ErrorCode)) expect(value).toBe(key);
  });

  test('final codes are EVENT_EXPIRED, AGENT_TIMEOUT and CANCELLED', () => {
    expect([...FINAL_ERROR_CODES].sort()).toEqual(['AGENT_TIMEOUT', 'CANCELLED', 'EVENT_EXPIRED']);
  });

  test('retryable codes are RATE_LIMITED, QUEUE_FULL and RELAY_UNAVAILABLE, none final', () => {
    expect([...RETRYABLE_ERROR_CODES].sort()).toEqual(['QUEUE_FULL', 'RATE_LIMITED', 'RELAY_UNAVAILABLE']);
    for (const code of RETRYABLE_ERROR_CODES) expect(FINAL_ERROR_CODES.has(code)).toBe(false);
  });

  test('every code has a non-empty default message', () => {
    expect(Object.keys(DEFAULT_ERROR_MESSAGES).sort()).toEqual([...PROTOCOL_ERROR_CODES].sort());
    for (const code of ERROR_CODES) expect(DEFAULT_ERROR_MESSAGES[code]).toMatch(/\S/);
  });

  test('ALLOWLIST_DENIED uses the message of the PROTOCOL.md example', () => {
    expect(DEFAULT_ERROR_MESSAGES.ALLOWLIST_DENIED).toBe('App is not allowlisted for this agent');
  });
});

describe('close codes', () => {
  test('match PROTOCOL.md', () => {
    expect(CloseCode).toEqual({
      NORMAL: 1000,
      GOING_AWAY: 1001,
      POLICY: 1008,
      TOO_LARGE: 1009,
      INTERNAL: 1011,
      OVERLOADED: 1013,
    });
  });
});
