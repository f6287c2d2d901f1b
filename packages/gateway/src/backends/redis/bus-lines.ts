import type { BusMessage } from '../../ports';

/**
 * The bus's batches as lines, so that a frame already encoded for a socket crosses Redis as it
 * is. Inside a JSON array it was escaped by the sending node and unescaped by the receiving one:
 * per token, about 1.2 µs of the sender's CPU and 0.9 µs of the receiver's (bench/bus-framing.js,
 * docs/benchmarks.md). One message a line:
 * - a token: `t`, then its connection, event, attempt, seq and frame, separated by tabs;
 * - any other message: its JSON without `text`, then a tab and `text` as it is, if it has one.
 *
 * No line holds a raw newline. JSON escapes newlines and tabs inside its strings, so the first
 * tab of a line that is not a token's ends its JSON. A message whose text holds a newline
 * (whitespace in an agent's raw payload) goes as JSON, whole; a token whose ids hold a separator
 * goes as any other message.
 *
 * Nodes of earlier versions send and read JSON arrays. A batch of lines starts with `t` or `{`,
 * an array with `[`, so every node reads both. A node's liveness value carries `LINES_MARK`
 * (presence.ts), and the bus sends lines only to a node known to carry it (bus.ts): in a
 * rolling upgrade no node is sent a batch it cannot read.
 */
export const LINES_MARK = 'bus=lines';

/** Whether a node whose liveness key holds `value` reads lines. */
export function readsLines(value: string | null): boolean {
  return value !== null && value.split(' ').includes(LINES_MARK);
}

export function encodeBatch(messages: readonly BusMessage[]): string {
  let out = '';
  for (const message of messages) {
    if (out.length > 0) out += '\n';
    out += encodeLine(message);
  }
  return out;
}

/** Free of the separators: a string that may go in a line as it is. */
const plain = (s: string) => !s.includes('\n') && !s.includes('\t');

function encodeLine(message: BusMessage): string {
  if (!('text' in message) || message.text.includes('\n')) return JSON.stringify(message);
  if (message.kind === 'app-token' && plain(message.connId) && plain(message.eventId)) {
    return `t\t${message.connId}\t${message.eventId}\t${message.attempt}\t${message.seq}\t${message.text}`;
  }
  const { text, ...rest } = message;
  return `${JSON.stringify(rest)}\t${text}`;
}

export function decodeBatch(raw: string): BusMessage[] {
  if (raw.startsWith('[')) return JSON.parse(raw) as BusMessage[];
  const messages: BusMessage[] = [];
  let start = 0;
  while (start < raw.length) {
    let end = raw.indexOf('\n', start);
    if (end < 0) end = raw.length;
    messages.push(decodeLine(raw, start, end));
    start = end + 1;
  }
  return messages;
}

function decodeLine(raw: string, start: number, end: number): BusMessage {
  if (raw.charCodeAt(start) === 0x74 /* t */) {
    const a = raw.indexOf('\t', start + 2);
    const b = raw.indexOf('\t', a + 1);
    const c = raw.indexOf('\t', b + 1);
    const d = raw.indexOf('\t', c + 1);
    return {
      kind: 'app-token',
      connId: raw.slice(start + 2, a),
      eventId: raw.slice(a + 1, b),
      attempt: Number(raw.slice(b + 1, c)),
      seq: Number(raw.slice(c + 1, d)),
      text: raw.slice(d + 1, end),
    };
  }
  // A tab outside JSON's strings is the text's separator: JSON escapes every tab inside them.
  const tab = raw.indexOf('\t', start);
  if (tab < 0 || tab > end) return JSON.parse(raw.slice(start, end)) as BusMessage;
  return { ...(JSON.parse(raw.slice(start, tab)) as object), text: raw.slice(tab + 1, end) } as BusMessage;
}
