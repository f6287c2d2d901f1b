/**
 * Work under way, so a close can wait for it: `settled` resolves once every promise added has
 * settled, those added while it waits included.
 */
export interface InProgress {
  add<T>(work: Promise<T>): Promise<T>;
  settled(): Promise<void>;
}

export function createInProgress(): InProgress {
  const pending = new Set<Promise<unknown>>();
  return {
    add(work) {
      pending.add(work);
      const forget = () => void pending.delete(work);
      work.then(forget, forget);
      return work;
    },
    async settled() {
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
  };
}
