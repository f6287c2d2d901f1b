import type { BusMessage } from '../../ports';
import { LINES_MARK, decodeBatch, encodeBatch, readsLines } from './bus-lines';

/** Strings with every character the framing must carry: its separators, JSON's specials, and more. */
const awkward = ['', 'plain', 'tab\there', 'new\nline', 'cr\rlf\r\n', '"quoted"', 'back\\slash', '\u2028\u2029', 'é 漢字 🎉', '{"a":[1,2]}', '\u0000\u001f', 't\tx', '[', '{'];

let seed = 7;
const random = () => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed / 2 ** 31;
};
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
const text = () => Array.from({ length: 1 + Math.floor(random() * 3) }, () => pick(awkward)).join('');
/** A frame as the node makes one: JSON, so without a raw newline, unless an agent's raw payload put one in. */
const frame = () => (random() < 0.8 ? JSON.stringify({ type: 'token', token: text(), seq: 3 }) : `{"type":"reply","payload":{\n"a": ${JSON.stringify(text())}}}`);

function message(): BusMessage {
  switch (Math.floor(random() * 6)) {
    case 0:
    case 1:
      return { kind: 'app-token', connId: random() < 0.9 ? 'node-a-1f2e3d.17' : text(), eventId: random() < 0.9 ? 'evt_01J9ZQ' : text(), text: frame(), attempt: 1 + Math.floor(random() * 3), seq: Math.floor(random() * 1e6) };
    case 2:
      return { kind: 'app-final', connId: 'node-a-1f2e3d.17', appId: text(), eventId: 'evt_1', text: frame(), avoid: ['n1', text()], stream: { agentId: text(), attempt: 2, tokens: 40 }, paced: true };
    case 3:
      return { kind: 'agent-cancel', connId: text(), eventId: 'evt_2' };
    case 4:
      return { kind: 'kick', tokenIds: [text(), text()], code: 4001, reason: text() };
    default:
      return { kind: 'probe', sentAt: Math.floor(random() * 1e12) };
  }
}

test('every batch of a generated corpus reads back as the messages sent, in order', () => {
  for (let i = 0; i < 2_000; i++) {
    const batch = Array.from({ length: 1 + Math.floor(random() * 12) }, message);
    expect(decodeBatch(encodeBatch(batch))).toEqual(batch);
  }
});

test("a token's frame crosses as it is, not escaped inside JSON", () => {
  const token: BusMessage = { kind: 'app-token', connId: 'node-a.1', eventId: 'evt_1', text: '{"type":"token","token":"a \\"quoted\\" b","seq":0}', attempt: 1, seq: 0 };
  const final: BusMessage = { kind: 'app-final', connId: 'node-a.1', appId: 'portal', eventId: 'evt_1', text: '{"type":"reply","payload":{"x":"y"}}' };
  const encoded = encodeBatch([token, final]);
  expect(encoded).toBe(`t\tnode-a.1\tevt_1\t1\t0\t${token.text}\n{"kind":"app-final","connId":"node-a.1","appId":"portal","eventId":"evt_1"}\t${final.text}`);
  expect(decodeBatch(encoded)).toEqual([token, final]);
});

test('a text with a newline goes as JSON, whole; a token with a separator in an id as any other message', () => {
  const multiline: BusMessage = { kind: 'app-final', connId: 'c', appId: 'a', eventId: 'e', text: '{"payload":\n1}' };
  const tabbed: BusMessage = { kind: 'app-token', connId: 'c\t1', eventId: 'e', text: '{}', attempt: 1, seq: 0 };
  const encoded = encodeBatch([multiline, tabbed, { kind: 'probe', sentAt: 1 }]);
  expect(encoded.split('\n')).toEqual([JSON.stringify(multiline), `${JSON.stringify({ ...tabbed, text: undefined })}\t{}`, '{"kind":"probe","sentAt":1}']);
  expect(decodeBatch(encoded)).toEqual([multiline, tabbed, { kind: 'probe', sentAt: 1 }]);
});

test("an earlier version's batch, a JSON array, is read too", () => {
  const batch = Array.from({ length: 50 }, message);
  expect(decodeBatch(JSON.stringify(batch))).toEqual(batch);
});

test("a node's liveness value says whether it reads lines; an earlier version's (a timestamp) does not", () => {
  expect(readsLines(`${Date.now()} ${LINES_MARK}`)).toBe(true);
  expect(readsLines(String(Date.now()))).toBe(false);
  expect(readsLines(null)).toBe(false);
});
