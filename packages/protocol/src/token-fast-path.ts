import type { AgentTokenFrame } from './frames';
import { EVENT_ID_PATTERN, MAX_REF_LENGTH, MAX_TOKEN_TEXT_LENGTH } from './limits';

/**
 * A token frame read by the fast path, with the token's JSON string as the agent wrote it
 * (quotes and escapes included): a relay splices it into the frame it sends on instead of
 * encoding the token again. It is a JSON string whose JSON.parse is `frame.token`, with no raw
 * control character or lone surrogate, so it stays valid JSON and valid UTF-8 where it lands.
 */
export interface FastToken {
  frame: AgentTokenFrame;
  tokenJson: string;
}

/**
 * The agent's `token` frame is most of what a relay parses, and it has three plain string
 * fields, so it is read straight from the text here instead of by JSON.parse and the zod schema
 * (issue 19: that pair was the largest per-token cost on the agents' node).
 *
 * It only ever accepts: it returns the frame when the text is a JSON object whose members are
 * exactly `type` ("token"), `event_id`, `token` and optionally `ref`, each once, each a string
 * that obeys the schema. Anything else (another type, an extra or repeated key, a non-string
 * value, invalid JSON, an escape in a key, a lone surrogate) returns undefined and the caller parses the frame the
 * general way, so every error a client can see still comes from one place. A test holds the two
 * paths to the same answer on a generated corpus.
 */
export function parseAgentTokenFast(text: string): FastToken | undefined {
  let type: string | undefined;
  let eventId: string | undefined;
  let token: string | undefined;
  let tokenJson = '';
  let ref: string | undefined;
  let i = skipSpace(text, 0);
  if (text.charCodeAt(i) !== 0x7b /* { */) return undefined;
  i = skipSpace(text, i + 1);
  for (;;) {
    if (text.charCodeAt(i) !== 0x22 /* " */) return undefined;
    const keyEnd = stringEnd(text, i);
    if (keyEnd < 0) return undefined; // escaped or unterminated key: not worth reading here
    const key = text.slice(i + 1, keyEnd);
    i = skipSpace(text, keyEnd + 1);
    if (text.charCodeAt(i) !== 0x3a /* : */) return undefined;
    i = skipSpace(text, i + 1);
    if (text.charCodeAt(i) !== 0x22) return undefined;
    const valueEnd = stringEnd(text, i);
    const start = i;
    let value: string;
    if (valueEnd >= 0) value = text.slice(i + 1, valueEnd);
    else {
      const end = escapedStringEnd(text, i);
      if (end < 0) return undefined;
      try {
        value = JSON.parse(text.slice(i, end + 1)) as string;
      } catch {
        return undefined;
      }
      i = end;
    }
    if (valueEnd >= 0) i = valueEnd;
    // A repeated key falls back: JSON.parse keeps the last, and that rule lives there.
    if (key === 'type' && type === undefined) type = value;
    else if (key === 'event_id' && eventId === undefined) eventId = value;
    else if (key === 'token' && token === undefined) {
      token = value;
      tokenJson = text.slice(start, i + 1);
    } else if (key === 'ref' && ref === undefined) ref = value;
    else return undefined;
    i = skipSpace(text, i + 1);
    const c = text.charCodeAt(i);
    if (c === 0x2c /* , */) i = skipSpace(text, i + 1);
    else if (c === 0x7d /* } */) break;
    else return undefined;
  }
  if (skipSpace(text, i + 1) !== text.length) return undefined;
  if (type !== 'token' || eventId === undefined || token === undefined) return undefined;
  if (!EVENT_ID_PATTERN.test(eventId) || token.length > MAX_TOKEN_TEXT_LENGTH) return undefined;
  if (ref === undefined) return { frame: { type, event_id: eventId, token }, tokenJson };
  if (ref.length > MAX_REF_LENGTH) return undefined;
  return { frame: { type, event_id: eventId, token, ref }, tokenJson };
}

function skipSpace(text: string, i: number): number {
  for (;;) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return i;
    i++;
  }
}

/**
 * `i` is at an opening quote. Returns the index of the closing quote of a string with no escape,
 * no control character and no lone surrogate (whose text is then its value as it stands, and
 * valid UTF-8 once written), or -1.
 */
function stringEnd(text: string, i: number): number {
  for (i++; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) return i;
    if (c === 0x5c /* \ */ || c < 0x20) return -1;
    if ((c & 0xf800) === 0xd800 && !(i = pairEnd(text, i, c))) return -1;
  }
  return -1;
}

/** Like stringEnd, but steps over escapes; JSON.parse then decodes (and judges) them. */
function escapedStringEnd(text: string, i: number): number {
  for (i++; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) return i;
    if (c === 0x5c) i++;
    else if (c < 0x20) return -1;
    else if ((c & 0xf800) === 0xd800 && !(i = pairEnd(text, i, c))) return -1;
  }
  return -1;
}

/**
 * `c` at `i` is a surrogate. A lone one cannot come off the wire (the transport decodes UTF-8
 * strictly) and could not be written back as it stands, so it is left to the general path.
 * Returns the index of the pair's second half, or 0.
 */
function pairEnd(text: string, i: number, c: number): number {
  if (c >= 0xdc00) return 0;
  const next = text.charCodeAt(i + 1);
  return next >= 0xdc00 && next <= 0xdfff ? i + 1 : 0;
}
