import { keySlot } from './slot';

describe('keySlot', () => {
  // Values from the Redis Cluster specification and CLUSTER KEYSLOT.
  test('hashes a plain key as Redis does', () => {
    expect(keySlot('123456789')).toBe(12739);
    expect(keySlot('foo')).toBe(12182);
  });
  test('hashes only the tag of a tagged key, so keys of one agent share a slot', () => {
    expect(keySlot('relay:{agent:a}:entries')).toBe(keySlot('agent:a'));
    expect(keySlot('x{agent:a}y')).toBe(keySlot('relay:{agent:a}:order'));
  });
  test('an empty tag is no tag: the whole key is hashed', () => {
    expect(keySlot('a{}b')).not.toBe(keySlot(''));
  });

  // The specification's own definition, a bit at a time over the key's UTF-8 bytes: the table
  // and the reading by characters must agree with it on any key, non-ASCII and braces included.
  const bySpec = (key: string): number => {
    let bytes = Buffer.from(key);
    const open = bytes.indexOf('{');
    if (open !== -1) {
      const close = bytes.indexOf('}', open + 1);
      if (close > open + 1) bytes = bytes.subarray(open + 1, close);
    }
    let crc = 0;
    for (const byte of bytes) {
      crc ^= byte << 8;
      for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
    return crc % 16384;
  };

  test('agrees with the specification on a generated corpus', () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff;
      return seed / 0x80000000;
    };
    const pieces = ['{', '}', 'a', 'Z', '0', ':', 'é', '日', '😀', '\u0000', '\u007f', '\u0080', 'agent:', 'evt_01J9ZQ3K8M'];
    for (let n = 0; n < 20_000; n++) {
      let key = '';
      for (let len = Math.floor(random() * 12); len > 0; len--) key += pieces[Math.floor(random() * pieces.length)];
      if (keySlot(key) !== bySpec(key)) expect([key, keySlot(key)]).toEqual([key, bySpec(key)]);
    }
  });
});
