import { createRecentKeys } from './recent-keys';

test('keeps the most recent keys and forgets the oldest past its size', () => {
  const keys = createRecentKeys(2);
  keys.add('a');
  keys.add('b');
  keys.add('a'); // seen again: now the newest
  keys.add('c');
  expect(['a', 'b', 'c'].filter((k) => keys.has(k))).toEqual(['a', 'c']);
});
