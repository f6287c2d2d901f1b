import type { Role } from '@relay/protocol';
import type { BackendUnderTest } from './backends';
import { TestClient, type ConnectOptions } from './client';
import { startRelay, type RelayProcess } from './relay-process';
import { roleOf, testRegistry, type Principal, type RegistryOverrides, type Tokens } from './registry';

// The relay a conformance suite talks to: one gateway (or balanced cluster) on the backend under
// test, seeded from a fresh test registry, with the clients each test opens.

export interface RelayFixtureOptions {
  /** Registry overrides; a function gets the fresh tokens (to register their hashes, say). */
  registry?: RegistryOverrides | ((tokens: Tokens) => RegistryOverrides);
  /** Environment on top of the backend's (timeouts, limits). */
  env?: Record<string, string>;
  /**
   * A fresh node, registry and backend slate for every test, started in beforeEach: for suites
   * whose tests need a clean queue. Otherwise one node serves the describe block (beforeAll).
   */
  perTest?: boolean;
  /**
   * The tests stop the node themselves and check its exit, so each gets its own (as with
   * `perTest`); afterwards a node that a failed test left running is killed, not drained (a
   * drain that hangs would hold up every later test).
   */
  stoppedByTest?: boolean;
  /** Runs on each client before it is closed after a test (to resume a socket the test paused). */
  beforeClose?: (client: TestClient) => void;
}

export interface RelayFixture {
  /** The running node (one per test with `perTest`). */
  readonly relay: RelayProcess;
  /** The tokens of the running node's registry. */
  readonly tokens: Tokens;
  /** Every client the running test opened. */
  readonly clients: TestClient[];
  /** Opens a client as one of the test registry's apps or agents; closed after the test. */
  connect(principal: Principal, options?: ConnectOptions): Promise<TestClient>;
  /** Opens a client with any token on either endpoint (wrong or made-up ones too); closed after the test. */
  connectAs(role: Role, token: string, options?: ConnectOptions): Promise<TestClient>;
}

/**
 * Registers jest hooks that start a relay for this describe block (or each test), close the
 * test's clients after each test (failing it if any client got a frame outside the schema), stop
 * the node, failing unless it exits 0, and tear the backend down.
 */
export function useRelay(backend: BackendUnderTest, options: RelayFixtureOptions = {}): RelayFixture {
  let relay: RelayProcess | undefined;
  let tokens: Tokens | undefined;
  const clients: TestClient[] = [];

  const start = async () => {
    const test = testRegistry(options.registry);
    tokens = test.tokens;
    relay = await startRelay({ registry: test.registry, env: { ...(await backend.env()), ...options.env } });
  };
  /** Closes the test's clients; returns the frames they got outside the schema. */
  const closeClients = async () => {
    const open = clients.splice(0);
    if (options.beforeClose) open.forEach(options.beforeClose);
    await Promise.all(open.map((c) => c.close()));
    return open.flatMap((c) => c.invalid);
  };
  // Checks come after the cleanup, so a failing one never leaves a node or a Redis running.
  const stop = async () => {
    const node = relay;
    relay = undefined;
    const code = await node?.stop(options.stoppedByTest ? 'SIGKILL' : 'SIGTERM');
    await backend.teardown();
    if (node && !options.stoppedByTest) expect(code).toBe(0);
  };

  if (options.perTest || options.stoppedByTest) {
    beforeEach(start);
    afterEach(async () => {
      const invalid = await closeClients();
      await stop();
      expect(invalid).toEqual([]);
    });
  } else {
    beforeAll(start);
    afterEach(async () => expect(await closeClients()).toEqual([]));
    afterAll(stop);
  }

  const running = () => {
    if (!relay || !tokens) throw new Error('relay not started');
    return { relay, tokens };
  };
  const connectAs = async (role: Role, token: string, connectOptions?: ConnectOptions) => {
    const client = await TestClient.connect(running().relay.url, role, token, connectOptions);
    clients.push(client);
    return client;
  };
  return {
    get relay() {
      return running().relay;
    },
    get tokens() {
      return running().tokens;
    },
    clients,
    async connect(principal, connectOptions) {
      const client = await connectAs(roleOf(principal), running().tokens[principal], connectOptions);
      if (client.role === 'agent') await client.attached();
      return client;
    },
    connectAs,
  };
}
