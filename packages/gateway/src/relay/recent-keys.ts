/** A set of the most recent keys, forgetting the oldest past `max`: bounded memory for "seen lately". */
export interface RecentKeys {
  add(key: string): void;
  has(key: string): boolean;
}

export function createRecentKeys(max: number): RecentKeys {
  const keys = new Set<string>();
  return {
    add(key) {
      keys.delete(key);
      keys.add(key);
      // A Set iterates in insertion order, so its first key is the oldest.
      if (keys.size > max) keys.delete(keys.values().next().value as string);
    },
    has: (key) => keys.has(key),
  };
}
