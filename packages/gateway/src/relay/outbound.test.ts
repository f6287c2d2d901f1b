import type { EventRecord } from '../ports';
import { appReplyFrame, errorFrame, finalOnWire } from './outbound';

// Issue 11.6: a stored final carries the answer once; the app's frame has it under both
// `content` and `reply`, built when it is written to the socket.

const event: EventRecord = {
  id: 'evt_1', appId: 'portal', agentId: 'athena', threadId: 't"1\\', sessionKey: 's', payloadRaw: '{"q":"why"}',
  acceptedAt: 1_000, expiresAt: 2_000, order: 1, appConnId: 'c1', queued: false, finished: false,
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
