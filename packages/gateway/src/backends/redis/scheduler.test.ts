import { createKeys } from './keys';
import { CLUSTER_LANES, schedulerPrefixes } from './scheduler';
import { keySlot } from './slot';

describe('schedulerPrefixes', () => {
  const keys = createKeys('relay-test');

  test('one primary: one queue, under the prefix the scheduler always had', () => {
    expect(schedulerPrefixes(keys, false)).toEqual([keys.bullPrefix]);
  });

  test('a Redis Cluster: lanes on slots spread evenly, so each of three even shards gets two', () => {
    const prefixes = schedulerPrefixes(keys, true);
    expect(prefixes).toHaveLength(CLUSTER_LANES);
    const shardOf = (slot: number) => Math.floor((slot * 3) / 16_384);
    const shards = prefixes.map((prefix) => shardOf(keySlot(prefix)));
    expect([0, 1, 2].map((shard) => shards.filter((s) => s === shard).length)).toEqual([2, 2, 2]);
    // the same lanes on every node, whatever the order they are asked in
    expect(schedulerPrefixes(createKeys('relay-test'), true)).toEqual(prefixes);
  });
});
