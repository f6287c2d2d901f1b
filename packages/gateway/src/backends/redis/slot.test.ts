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
});
