/** CRC16 (XMODEM) of each byte value, for a byte at a time instead of a bit at a time. */
const CRC16 = new Uint16Array(256);
for (let byte = 0; byte < 256; byte++) {
  let crc = byte << 8;
  for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  CRC16[byte] = crc;
}

const crc16 = (crc: number, byte: number) => ((crc << 8) & 0xffff) ^ (CRC16[((crc >> 8) ^ byte) & 0xff] as number);

/**
 * The Redis Cluster hash slot of a key: CRC16 (XMODEM) of the key, or of its hash tag (the first
 * non-empty `{…}`), modulo 16384, as Redis computes it. Every event's expiry and its cancel hash
 * their key here, so an ASCII key is read by characters, without a buffer; `{` and `}` are one
 * byte in UTF-8 and no other character's bytes contain theirs, so the tag is the same found
 * either way.
 */
export function keySlot(key: string): number {
  let start = 0;
  let end = key.length;
  const open = key.indexOf('{');
  if (open !== -1) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) {
      start = open + 1;
      end = close;
    }
  }
  let crc = 0;
  for (let i = start; i < end; i++) {
    const c = key.charCodeAt(i);
    if (c >= 0x80) {
      crc = 0;
      for (const byte of Buffer.from(key.slice(start, end))) crc = crc16(crc, byte);
      break;
    }
    crc = crc16(crc, c);
  }
  return crc % 16384;
}
