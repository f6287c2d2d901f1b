import { FINAL_ERROR_CODES, type ErrorCode, type Role } from '@relay/protocol';
import type { BackendUnderTest } from './backends';
import { TestClient, type ConnectOptions, type Frame } from './client';
import { startRelay, type RelayProcess } from './relay-process';
import { testRegistry } from './registry';

// Helpers for the event-lifecycle suites (offline queue, expiry, timeouts, cancel, idempotency,
// limits). Those suites need a relay with their own limits and a clean queue per test, so each
// test gets a fresh node.

type Overrides = NonNullable<Parameters<typeof testRegistry>[0]>;
type Principal = keyof ReturnType<typeof testRegistry>['tokens'];

export interface LifecycleRelay {
  /** The node of the running test. */
  readonly relay: RelayProcess;
  /** Opens a client as one of the test registry's apps or agents; closed after the test. */
  connect(principal: Principal, options?: ConnectOptions): Promise<TestClient>;
  /** Every client the running test opened (for schema checks). */
  readonly clients: TestClient[];
}

/**
 * Starts a fresh relay before each test with these registry overrides and environment, closes
 * the test's clients after it (failing it if any client got a frame outside the schema), and
 * checks that the node shuts down cleanly.
 */
export function lifecycleRelay(
  backend: BackendUnderTest,
  settings: { registry?: Overrides; env?: Record<string, string> } = {},
): LifecycleRelay {
  let relay: RelayProcess | undefined;
  let tokens: ReturnType<typeof testRegistry>['tokens'];
  const clients: TestClient[] = [];

  beforeEach(async () => {
    const test = testRegistry(settings.registry);
    tokens = test.tokens;
    relay = await startRelay({ registry: test.registry, env: { ...(await backend.env()), ...settings.env } });
  });
  afterEach(async () => {
    const open = clients.splice(0);
    await Promise.all(open.map((c) => c.close()));
    expect(open.flatMap((c) => c.invalid)).toEqual([]);
    const code = await relay?.stop();
    relay = undefined;
    await backend.teardown();
    expect(code).toBe(0);
  });

  return {
    get relay() {
      if (!relay) throw new Error('relay not started');
      return relay;
    },
    clients,
    async connect(principal, options) {
      if (!relay) throw new Error('relay not started');
      const role: Role = principal === 'athena' || principal === 'klyve' ? 'agent' : 'app';
      const client = await TestClient.connect(relay.url, role, tokens[principal], options);
      clients.push(client);
      return client;
    },
  };
}

/**
 * Every frame the client receives from now on, in arrival order, including those that
 * `next()` takes: for counting frames per event over a whole test.
 */
export function recordFrames(client: TestClient): Frame[] {
  const all: Frame[] = [];
  client.ws.on('message', (data) => all.push(JSON.parse(data.toString()) as Frame));
  return all;
}

/** The final frames (a reply, or an error with a final code) among `frames` for this event. */
export function finalsFor(frames: Frame[], eventId: string): Frame[] {
  return frames.filter(
    (f) =>
      f.event_id === eventId &&
      (f.type === 'reply' || (f.type === 'error' && FINAL_ERROR_CODES.has(f.code as ErrorCode))),
  );
}

/** The frames of this type (and event) among those the client received and `next()` left. */
export function untaken(client: TestClient, type: string, eventId?: string): Frame[] {
  return client.frames.filter((f) => f.type === type && (eventId === undefined || f.event_id === eventId));
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Sends an event and waits for its answer (`accepted` or `error`) by ref. */
export async function send(app: TestClient, frame: Frame): Promise<Frame> {
  const ref = (frame.ref as string | undefined) ?? `ref-${Math.random().toString(36).slice(2)}`;
  app.send({ ...frame, ref });
  return app.next((f) => (f.type === 'accepted' || f.type === 'error') && f.ref === ref);
}
