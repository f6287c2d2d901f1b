import { parseLastEventId } from '@relay/protocol';
import { eventFrameText } from './http-api';
import { sseEvent } from './sse';

test('a token frame is an SSE event with id <attempt>.<seq>; other frames have no id', () => {
  const token = JSON.stringify({ type: 'token', event_id: 'evt_1', agent_id: 'athena', token: 'x', seq: 4, attempt: 2 });
  expect(sseEvent('token', token)).toBe(`event: token\nid: 2.4\ndata: ${token}\n\n`);
  expect(sseEvent('reply', '{"type":"reply"}')).toBe('event: reply\ndata: {"type":"reply"}\n\n');
});

test("a frame with line breaks (a payload's own whitespace) is split over data: lines that join back to it", () => {
  const frame = '{"type":"reply","payload":{\r\n  "a": 1,\n  "b": 2\r}}';
  const text = sseEvent('reply', frame);
  expect(text).toBe('event: reply\ndata: {"type":"reply","payload":{\ndata:   "a": 1,\ndata:   "b": 2\ndata: }}\n\n');
  const joined = text.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
  expect(JSON.parse(joined)).toEqual(JSON.parse(frame));
});

test('Last-Event-ID is <attempt>.<seq> with attempt from 1; anything else is no resume point', () => {
  expect(parseLastEventId('3.17')).toEqual({ attempt: 3, after_seq: 17 });
  for (const bad of ['', '0.1', '1', '1.x', '-1.2', '1.2.3']) expect(parseLastEventId(bad)).toBeUndefined();
});

test("a POST body becomes an event frame: its own text, the payload untouched, `type` last so the body cannot choose it", () => {
  const body = '{"agent_id":"athena","thread_id":"t","payload":{"b": 1.50},"type":"cancel"}';
  const frame = eventFrameText(body, '');
  expect(frame).toBe('{"agent_id":"athena","thread_id":"t","payload":{"b": 1.50},"type":"cancel","type":"event"}');
  expect(JSON.parse(frame).type).toBe('event');
  expect(JSON.parse(eventFrameText('{}', 'k1'))).toEqual({ idempotency_key: 'k1', type: 'event' });
  // the header wins over the field
  expect(JSON.parse(eventFrameText('{"idempotency_key":"a"}', 'b')).idempotency_key).toBe('b');
  // not an object: handed on as it is, for the parser's INVALID_JSON or INVALID_MESSAGE
  for (const other of ['{nope', '[1]', '"x"']) expect(eventFrameText(other, 'k')).toBe(other);
});
