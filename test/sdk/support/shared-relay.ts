import type { BackendUnderTest } from '../../support/backends';
import { startRelay, type RelayProcess } from '../../support/relay-process';
import { testRegistry } from '../../support/registry';

type Tokens = ReturnType<typeof testRegistry>['tokens'];

export interface SharedRelay {
  /** The node serving the describe block (throws outside its tests). */
  readonly relay: RelayProcess;
  /** The tokens of its registry. */
  readonly tokens: Tokens;
}

export interface SharedRelayOptions {
  /** Registry overrides (e.g. rate limits of one app). */
  registry?: Parameters<typeof testRegistry>[0];
  /** Closes what a test opened (SDK clients, child processes). */
  cleanup?: () => Promise<void>;
}

/**
 * Registers jest hooks for one relay process on `backend` that serves the whole describe block:
 * started before its first test, stopped after its last (failing unless the node exits 0), then
 * the backend torn down. `cleanup` runs after each test and once more before the node stops, so
 * nothing a test opened outlives the relay.
 */
export function sharedRelay(backend: BackendUnderTest, options: SharedRelayOptions = {}): SharedRelay {
  const { registry, tokens } = testRegistry(options.registry);
  let relay: RelayProcess | undefined;

  beforeAll(async () => {
    relay = await startRelay({ registry, env: await backend.env() });
  });
  if (options.cleanup) afterEach(options.cleanup);
  afterAll(async () => {
    await options.cleanup?.();
    const node = relay;
    relay = undefined;
    const code = await node?.stop();
    // The check comes after the teardown, so a failing one never leaves a Redis running.
    await backend.teardown();
    if (node) expect(code).toBe(0);
  });

  return {
    get relay() {
      if (!relay) throw new Error('relay not started');
      return relay;
    },
    tokens,
  };
}
