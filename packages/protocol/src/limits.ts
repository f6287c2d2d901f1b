/** Largest payload, measured as the UTF-8 bytes of its JSON text as the client sent it. */
export const MAX_PAYLOAD_BYTES = 64_000;

/**
 * Largest inbound WebSocket message per role. An app frame holds a payload plus a small
 * envelope (ids, keys), so 128 KiB leaves room for escaping and whitespace. An agent's reply
 * carries the answer text and the echoed payload. Anything larger is closed with 1009.
 */
export const MAX_APP_FRAME_BYTES = 128 * 1024;
export const MAX_AGENT_FRAME_BYTES = 1024 * 1024;

export const AGENT_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;
/** App ids follow the agent-id rule, so both fit in token prefixes and Redis hash tags. */
export const APP_ID_PATTERN = AGENT_ID_PATTERN;
export const THREAD_ID_PATTERN = /^[A-Za-z0-9:/._\-@#]{1,256}$/;
export const EVENT_ID_PATTERN = /^evt_[0-9A-Za-z]{1,64}$/;

/**
 * Deepest nesting of objects and arrays in a frame, counting the frame itself as level 1. Real
 * payloads and metadata are shallow; a frame nested thousands of levels deep is an attack on
 * every parser and encoder after this one, so it is refused with INVALID_MESSAGE.
 */
export const MAX_NESTING_DEPTH = 64;

export const MAX_REF_LENGTH = 128;
export const MAX_IDEMPOTENCY_KEY_LENGTH = 256;
export const MAX_TOKEN_TEXT_LENGTH = 16 * 1024;

export const APP_TOKEN_PREFIX = 'rlk_';
export const AGENT_TOKEN_PREFIX = 'rla_';

export const APP_SUBPROTOCOL = 'relay-app';
export const AGENT_SUBPROTOCOL = 'relay-agent';

/** Length in bytes of the UTF-8 encoding of `text`, without allocating. */
export function utf8ByteLength(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}
