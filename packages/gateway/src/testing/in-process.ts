import pino from 'pino';
import type { Role } from '@relay/protocol';
import { createMemoryBackend } from '../backends/memory';
import type { Backend } from '../ports';
import { toRegistryData } from '../registry-file';
import type { Connection } from '../relay/connection';
import { loadConfig } from '../config';
import { createContext, type RelayContext, type RelayLimits } from '../relay/context';
import { createMetrics, type Metrics } from '../relay/metrics';
import { finalOnWire } from '../relay/outbound';
import { createRelay, type Relay } from '../relay/relay';

// For unit tests of the core: the relay on the memory backend in the test's own process, with
// sockets it can read. Tests bend one port at a time (a write that waits, a store that fails),
// which a real node cannot be made to do on cue. Not part of the build (tsconfig excludes it).

/** Settings the tests do not choose, as a node has them by default. */
const DEFAULTS = loadConfig({});

export const TOKENS = {
  portal: 'rlk_portal_0123456789abcdef0123456789',
  athena: 'rla_athena_0123456789abcdef0123456789',
} as const;

/** A memory backend with one app (portal) and one agent (athena) that serves it. */
export function memoryBackend(): Backend {
  const registry = toRegistryData(
    {
      apps: [{ id: 'portal', name: 'Portal', tokens: [TOKENS.portal] }],
      agents: [{ id: 'athena', name: 'Athena', tokens: [TOKENS.athena], allow_apps: ['portal'] }],
    },
    60_000,
  );
  return createMemoryBackend({ registry, rateWindowMs: 60_000, finishedRetentionMs: DEFAULTS.finishedRetentionMs });
}

/**
 * Makes a fresh `memoryBackend()` per call, each closed after the test that made it: its
 * scheduler holds the events' expiry timers, which would keep the process alive.
 */
export function memoryBackendPerTest(): () => Backend {
  const made: Backend[] = [];
  afterEach(async () => {
    await Promise.all(made.splice(0).map((backend) => backend.close()));
  });
  return () => {
    const backend = memoryBackend();
    made.push(backend);
    return backend;
  };
}

/**
 * The core's shared state on `backend`, as node n1, without a relay. It starts one timer, its
 * owed work's retry (`ctx.owed.stop()` ends it); nothing else runs until asked.
 */
export function contextOn(backend: Backend, limits: Partial<RelayLimits> = {}, nodeId = 'n1'): { metrics: Metrics; ctx: RelayContext } {
  const metrics = createMetrics();
  const ctx = createContext({
    nodeId,
    backend,
    log: pino({ level: 'silent' }),
    metrics,
    limits: {
      replyTimeoutMs: 60_000,
      maxTtlMs: 60_000,
      finalRetentionMs: 60_000,
      idempotencyTtlMs: 60_000,
      nodeTtlMs: 3_000,
      timelineRetentionMs: DEFAULTS.timelineRetentionMs,
      streamMaxBytes: DEFAULTS.streamMaxBytes,
      webhookTimeoutMs: DEFAULTS.webhookTimeoutMs,
      webhookRetryMs: DEFAULTS.webhookRetryMs,
      ...limits,
    },
  });
  return { metrics, ctx };
}

/**
 * The core on `backend`, as node n1, with long timeouts unless the test shortens them. Two cores
 * on one backend, as n1 and n2, are two nodes of a cluster (the memory bus carries their messages).
 */
export function relayOn(
  backend: Backend,
  limits: Partial<RelayLimits> = {},
  nodeId = 'n1',
): { relay: Relay; metrics: Metrics; ctx: RelayContext } {
  const { metrics, ctx } = contextOn(backend, limits, nodeId);
  return { relay: createRelay(ctx), metrics, ctx };
}

export type FakeConnection = Connection & { frames: Record<string, unknown>[] };

/** A socket that keeps, parsed, every frame the core writes to it; it never backs up. */
export function fakeConnection(id: string, role: Role, principalId: string): FakeConnection {
  const frames: Record<string, unknown>[] = [];
  const finals = new Set<string>();
  const keep = (text: string) => {
    frames.push(JSON.parse(text) as Record<string, unknown>);
    return true;
  };
  return {
    id,
    role,
    principal: { role, id: principalId, tokenId: `tok-${principalId}` },
    since: Date.now(),
    channel: 'socket',
    frames,
    send: keep,
    backedUp: () => false,
    whenDrained: () => {},
    sendFinal: (eventId, text) => {
      finals.add(eventId);
      return keep(finalOnWire(text));
    },
    hasSentFinal: (eventId) => finals.has(eventId),
    close: () => {},
  };
}

/** An agent socket (athena, n1.1) and an app socket (portal, n1.2), opened: attached and present. */
export async function openAgentAndApp(relay: Relay): Promise<{ agent: FakeConnection; app: FakeConnection }> {
  const agent = fakeConnection('n1.1', 'agent', 'athena');
  const app = fakeConnection('n1.2', 'app', 'portal');
  relay.opened(agent);
  relay.opened(app);
  await wait(50);
  return { agent, app };
}

/**
 * Sends an event from `app` (portal) to athena, waits until `agent` is written it, and returns
 * its id. `relay` is the app's node; the agent may be on another.
 */
export async function deliveredEventId(relay: Relay, app: FakeConnection, agent: FakeConnection, threadId = 'portal:t'): Promise<string> {
  const events = () => agent.frames.filter((f) => f.type === 'event');
  const before = events().length;
  relay.received(app, JSON.stringify({ type: 'event', agent_id: 'athena', thread_id: threadId, payload: {} }));
  await until(() => events().length > before);
  return events()[before]?.event_id as string;
}

export const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `check` holds, polling; throws after `timeoutMs`. */
export async function until(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await wait(10);
  }
}

/**
 * The `ref` of each event a backend appends, by event id, from now on: the tests send each
 * event's ref in its payload too, so what the backend is asked can be told apart by ref.
 */
export function refsOf(backend: Backend): Map<string, string> {
  const refs = new Map<string, string>();
  const append = backend.events.append.bind(backend.events);
  backend.events.append = async (event, ...rest) => {
    refs.set(event.id, JSON.parse(event.payloadRaw).ref as string);
    return append(event, ...rest);
  };
  return refs;
}

/** A promise a test holds a step at, and the function that lets it go. */
export function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}
