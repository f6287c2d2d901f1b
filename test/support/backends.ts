/**
 * The backends the conformance suite runs against. `memory` needs nothing; later backends
 * (Redis) add themselves here with the environment a node needs to use them.
 */
export interface BackendUnderTest {
  name: string;
  /** Environment for a relay node on this backend; may start servers it needs. */
  env(): Promise<Record<string, string>>;
  /** Stops whatever env() started. */
  teardown(): Promise<void>;
}

export const memoryBackend: BackendUnderTest = {
  name: 'memory',
  env: async () => ({}),
  teardown: async () => {},
};

export function backendsUnderTest(): BackendUnderTest[] {
  return [memoryBackend];
}
