import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { isDeepStrictEqual } from 'node:util';
import { FINAL_ERROR_CODES, type ErrorCode } from '@relay/protocol';
import {
  createAgentClient,
  createAppClient,
  RelayError,
  type AgentClient,
  type AgentEventFrame,
  type AppClient,
  type Reply,
  type WebSocketConstructor,
} from '@relay/sdk';
import type { Frame } from '../support/client';
import { startRelay, type RelayProcess, type StartOptions } from '../support/relay-process';

// The moving parts of the chaos test: a pool of relay nodes that the test kills, drains and
// replaces while the clients use it, and apps and agents built on the SDK that reconnect to
// whichever nodes are alive and count every frame they get on the wire, before any dedupe.

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/** Reconnect quickly: the test has seconds, not the minutes a production backoff allows for. */
export const CHAOS_BACKOFF = { initialMs: 100, maxMs: 1_500, resetAfterMs: 2_000 };

interface PoolNode {
  node: RelayProcess;
  /** The signal the test sent it. */
  signalled?: NodeJS.Signals;
  exit?: number | string;
  /** It exited before the test sent it any signal. */
  crashed?: boolean;
}

/**
 * Relay nodes on one Redis. Clients dial `pickUrl()`: a random node the test has not started
 * to take down, so a reconnecting client finds a live node (as a load balancer would send it).
 */
export class NodePool {
  readonly nodes: PoolNode[] = [];
  /** What the pool did, with wall-clock times, to read a failed run's node logs against. */
  readonly history: string[] = [];
  private live: RelayProcess[] = [];

  constructor(private readonly options: StartOptions) {}

  async add(): Promise<RelayProcess> {
    const node = await startRelay(this.options);
    const entry: PoolNode = { node };
    node.proc.once('exit', (code, signal) => {
      entry.exit = code ?? signal ?? 'unknown';
      entry.crashed = entry.signalled === undefined;
    });
    this.nodes.push(entry);
    this.live.push(node);
    this.note(`started ${node.nodeId} on port ${node.port}`);
    return node;
  }

  liveNodes(): readonly RelayProcess[] {
    return this.live;
  }

  pickUrl(): string {
    const live = this.live.length > 0 ? this.live : this.nodes.map((n) => n.node);
    const node = live[Math.floor(Math.random() * live.length)];
    if (!node) throw new Error('no relay node was ever started');
    return node.url;
  }

  /** Takes a random live node out of the pool and sends it the signal; resolves with how it exited. */
  async takeDown(signal: 'SIGKILL' | 'SIGTERM'): Promise<{ node: RelayProcess; exit: number | string }> {
    const node = this.live[Math.floor(Math.random() * this.live.length)];
    if (!node || this.live.length < 2) throw new Error('the pool would be left without a live node');
    this.live = this.live.filter((n) => n !== node);
    this.entry(node).signalled = signal;
    this.note(`${signal} ${node.nodeId}`);
    const exit = await node.stop(signal);
    this.note(`${node.nodeId} exited: ${exit}`);
    return { node, exit };
  }

  note(what: string): void {
    this.history.push(`${new Date().toISOString()} ${what}`);
  }

  /** Log lines at level error or worse (pino: 50, 60) over every node: printed, not asserted. */
  errorLines(): number {
    return sum(this.nodes.map(({ node }) => node.output().split('\n').filter((l) => /^\{"level":(50|60),/.test(l)).length));
  }

  /** Writes every node's output and the pool's history to `dir` (after every run: CI can keep them). */
  writeLogs(dir: string): void {
    rmSync(dir, { recursive: true, force: true }); // only this run's logs, not an earlier one's
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'history.txt'), this.history.join('\n') + '\n');
    for (const { node } of this.nodes) writeFileSync(path.join(dir, `${node.nodeId}.log`), node.output());
  }

  /** Drains every node still running (SIGTERM) and resolves with their exit codes. */
  async stopAll(): Promise<(number | string)[]> {
    this.live = [];
    const running = this.nodes.filter((n) => n.exit === undefined && n.signalled === undefined);
    for (const n of running) n.signalled = 'SIGTERM';
    return Promise.all(running.map((n) => n.node.stop('SIGTERM')));
  }

  /** Last resort after a failure: SIGKILL whatever still runs. */
  async killAll(): Promise<void> {
    this.live = [];
    await Promise.all(
      this.nodes
        .filter((n) => n.exit === undefined)
        .map((n) => {
          n.signalled ??= 'SIGKILL';
          return n.node.stop('SIGKILL');
        }),
    );
  }

  /** Nodes that exited before the test's signal, or exited non-zero after a SIGTERM. */
  crashed(): { nodeId: string; exit: number | string; signalled?: string; tail: string }[] {
    return this.nodes
      .filter((n) => n.crashed === true || (n.signalled === 'SIGTERM' && n.exit !== undefined && n.exit !== 0))
      .map((n) => ({
        nodeId: n.node.nodeId,
        exit: n.exit as number | string,
        ...(n.signalled ? { signalled: n.signalled } : {}),
        tail: n.node.output().split('\n').slice(-15).join('\n'),
      }));
  }

  private entry(node: RelayProcess): PoolNode {
    const found = this.nodes.find((n) => n.node === node);
    if (!found) throw new Error(`${node.nodeId} is not in the pool`);
    return found;
  }
}

/**
 * The SDK's socket class, aimed at a live node of the pool on every dial (the SDK keeps one
 * URL; the path and token it built are kept, only the host changes), and reporting every frame
 * that arrives to `onFrame` before the SDK sees it.
 */
function poolSocket(pool: NodePool, onFrame: (frame: Frame) => void, onJunk: (text: string) => void): WebSocketConstructor {
  class PoolSocket extends WebSocket {
    constructor(url: string, protocols: string[], options?: { headers?: Record<string, string> }) {
      const target = new URL(url);
      target.host = new URL(pool.pickUrl()).host;
      super(target.toString(), protocols, options);
      const socket = `socket ${++sockets} (node :${target.port})`;
      const send = this.send.bind(this) as (data: unknown, ...rest: unknown[]) => void;
      Object.assign(this, {
        send: (data: unknown, ...rest: unknown[]) => {
          noteOnWire(socket, 'sent', String(data));
          send(data, ...rest);
        },
      });
      this.on('message', (data: WebSocket.RawData) => {
        const text = data.toString();
        let frame: unknown;
        try {
          frame = JSON.parse(text);
        } catch (err) {
          onJunk(`${(err as Error).message}: ${text.slice(0, 200)}`);
          return;
        }
        noteOnWire(socket, 'got', text);
        onFrame(frame as Frame);
      });
    }
  }
  return PoolSocket as unknown as WebSocketConstructor;
}

/**
 * Per event id, each frame that a socket of the test sent or got for it, in order, with the
 * socket and its node: printed beside a stream that does not spell its answer, it shows where
 * the stream went astray (a frame before the `accepted`, a final without its tokens).
 */
const onWire = new Map<string, string[]>();
const wireStart = Date.now();
let sockets = 0;

function noteOnWire(socket: string, way: 'sent' | 'got', text: string): void {
  let frame: Frame;
  try {
    frame = JSON.parse(text) as Frame;
  } catch {
    return;
  }
  if (typeof frame.event_id !== 'string') return;
  const at = [frame.ref, frame.code, frame.attempt === undefined ? undefined : `attempt ${String(frame.attempt)}`, frame.seq === undefined ? undefined : `seq ${String(frame.seq)}`];
  const line = `${Date.now() - wireStart} ms ${socket} ${way} ${String(frame.type)} ${at.filter((x) => x !== undefined).join(' ')}`;
  const lines = onWire.get(frame.event_id) ?? [];
  lines.push(line);
  onWire.set(frame.event_id, lines);
}

/** What an agent answers to an app's payload: three tokens, and their concatenation as content. */
export function answerFor(payload: { app: string; n: number }): { tokens: string[]; content: string } {
  const tokens = [`${payload.app}`, ` #${payload.n}`, ' answered'];
  return { tokens, content: tokens.join('') };
}

function isFinal(frame: Frame): boolean {
  return (
    typeof frame.event_id === 'string' &&
    (frame.type === 'reply' || (frame.type === 'error' && FINAL_ERROR_CODES.has(frame.code as ErrorCode)))
  );
}

/** The outcome a final frame carries: two finals of one event must agree on it. */
function outcomeOf(frame: Frame): string {
  return frame.type === 'reply' ? `reply ${frame.finish_reason} ${JSON.stringify(frame.content)}` : `error ${frame.code}`;
}

function bump(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

interface SentEvent {
  key: string;
  n: number;
  agentId: string;
  threadId: string;
  payload: { app: string; n: number };
  /** Set once the relay accepted it (after any number of retries). */
  eventId?: string;
  /** A refusal that is not worth retrying: the event is lost. */
  refused?: string;
  /** The tokens the SDK's handle yielded, in order. */
  streamed: { attempt: number; seq: number; text: string }[];
  /** The SDK's handle settled: its final taken, after any replay it waited for. */
  settled?: boolean;
}

/**
 * One app run as several processes (SDK clients). Final frames for an event may reach any of
 * them (the relay hands a final to another connection of the app when the sender's is gone), so
 * the app dedupes finals by event_id across all its clients, as an app with a shared store would.
 */
export class ChaosApp {
  readonly clients: AppClient[] = [];
  readonly sent: SentEvent[] = [];
  /** Every final frame any client of this app got, by event_id, duplicates included. */
  readonly finals = new Map<string, Frame[]>();
  /** Retryable refusals (RELAY_UNAVAILABLE…) by code: each was retried with the same idempotency key. */
  readonly refusals = new Map<string, number>();
  /** Other error frames and SDK errors, by code: printed, not failed on. */
  readonly errors = new Map<string, number>();
  /** Things that fail the test. */
  readonly problems: string[] = [];
  tokens = 0;
  /** Events whose SDK token stream (its latest attempt) spells the final content: all, or the test fails. */
  spelled = 0;
  private stopped = false;

  constructor(
    readonly appId: string,
    token: string,
    pool: NodePool,
    clients: number,
  ) {
    const onFrame = (frame: Frame) => this.onFrame(frame);
    const onJunk = (text: string) => this.problems.push(`frame that is not JSON: ${text}`);
    for (let i = 0; i < clients; i++) {
      const client = createAppClient({
        url: pool.pickUrl(),
        token,
        WebSocket: poolSocket(pool, onFrame, onJunk),
        backoff: CHAOS_BACKOFF,
      });
      client.on('error', (err) => {
        bump(this.errors, err.code);
        // A frame outside the protocol, or a resend accepted as a different event.
        if (err.code === 'INVALID_MESSAGE' || err.code === 'INVALID_JSON') this.problems.push(`client error: ${err.message}`);
      });
      client.on('state', (change) => {
        if (change.state === 'closed' && change.error) this.problems.push(`client gave up: ${change.error.message}`);
      });
      this.clients.push(client);
    }
  }

  opened(): Promise<void[]> {
    return Promise.all(this.clients.map((c) => c.opened()));
  }

  /**
   * Sends event `n` through client `clientIndex` until the relay accepts it. A retryable refusal
   * (RELAY_UNAVAILABLE while Redis restarts) is retried with backoff and the same idempotency
   * key; the SDK itself resends on every new socket until the final frame arrives.
   */
  async send(clientIndex: number, agentId: string, n: number): Promise<void> {
    const client = this.clients[clientIndex] as AppClient;
    const event: SentEvent = {
      key: `chaos-${this.appId}-${n}`,
      n,
      agentId,
      threadId: `${this.appId}:s${n % 7}:${n}`,
      payload: { app: this.appId, n },
      streamed: [],
    };
    this.sent.push(event);
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        const handle = await client.send(event.agentId, event.threadId, event.payload, { idempotencyKey: event.key });
        if (event.eventId !== undefined && event.eventId !== handle.eventId) {
          this.problems.push(`${event.key} was accepted as ${event.eventId} and again as ${handle.eventId}`);
        }
        event.eventId = handle.eventId;
        void (async () => {
          for await (const t of handle.tokens) event.streamed.push(t);
          event.settled = true;
        })();
        return;
      } catch (err) {
        if (err instanceof RelayError && err.retryable) {
          bump(this.refusals, err.code);
          await sleep(Math.min(100 * 2 ** attempt, 1_000) * (0.5 + Math.random()));
          continue;
        }
        event.refused = err instanceof Error ? err.message : String(err);
        if (!this.stopped) this.problems.push(`${event.key} refused: ${event.refused}`);
        return;
      }
    }
  }

  /** Events accepted (an event_id known) and answered (a final frame for that id seen). */
  progress(): { sent: number; accepted: number; answered: number } {
    let accepted = 0;
    let answered = 0;
    for (const e of this.sent) {
      if (e.eventId === undefined) continue;
      accepted += 1;
      if (this.finals.has(e.eventId)) answered += 1;
    }
    return { sent: this.sent.length, accepted, answered };
  }

  /**
   * The sent events not yet accepted, not yet answered, or whose SDK handle has not settled (a
   * final that came ahead of a replay waits in the SDK for it).
   */
  unfinished(): SentEvent[] {
    return this.sent.filter((e) => e.eventId === undefined || !this.finals.has(e.eventId) || e.settled !== true);
  }

  /**
   * Checks every event once traffic has settled: accepted, answered with exactly one outcome
   * (however many copies of the final arrived), the agent's answer and the original payload.
   */
  verify(): { finalsRaw: number; finalsUnique: number; problems: string[] } {
    const problems = [...this.problems];
    const ours = new Set<string>();
    for (const e of this.sent) {
      if (e.eventId === undefined) {
        problems.push(`${e.key} never accepted${e.refused ? ` (${e.refused})` : ''}`);
        continue;
      }
      ours.add(e.eventId);
      const finals = this.finals.get(e.eventId) ?? [];
      if (finals.length === 0) {
        problems.push(`${e.key} (${e.eventId}) accepted but never answered`);
        continue;
      }
      if (e.settled !== true) problems.push(`${e.key} (${e.eventId}) answered, but its SDK handle never settled`);
      const outcomes = new Set(finals.map(outcomeOf));
      if (outcomes.size > 1) problems.push(`${e.eventId} ended more than one way: ${[...outcomes].join(' | ')}`);
      const first = finals[0] as Frame;
      const expected = answerFor(e.payload).content;
      if (first.type !== 'reply' || first.content !== expected || first.finish_reason !== 'stop') {
        problems.push(`${e.eventId} ended with ${outcomeOf(first)}, expected the reply ${JSON.stringify(expected)}`);
      } else if (!isDeepStrictEqual(first.payload, e.payload)) {
        problems.push(`${e.eventId} reply carries payload ${JSON.stringify(first.payload)}, sent ${JSON.stringify(e.payload)}`);
      }
      problems.push(...streamProblems(e, expected));
      if (spells(e.streamed, expected)) this.spelled += 1;
      else {
        const wire = (onWire.get(e.eventId as string) ?? []).map((line) => `\n    ${line}`).join('');
        problems.push(`${e.eventId}'s last attempt does not spell its answer: streamed ${JSON.stringify(e.streamed)}; on the wire:${wire}`);
      }
    }
    let finalsRaw = 0;
    for (const [eventId, finals] of this.finals) {
      finalsRaw += finals.length;
      if (!ours.has(eventId)) problems.push(`${this.appId} got a final for ${eventId}, which it never had accepted`);
    }
    return { finalsRaw, finalsUnique: this.finals.size, problems };
  }

  async close(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.clients.map((c) => c.close()));
  }

  private onFrame(frame: Frame): void {
    if (isFinal(frame)) {
      const id = frame.event_id as string;
      const list = this.finals.get(id) ?? [];
      list.push(frame);
      this.finals.set(id, list);
    } else if (frame.type === 'token') {
      this.tokens += 1;
    } else if (frame.type === 'error') {
      bump(this.errors, `frame ${frame.code as string}`);
    }
  }
}

/**
 * What the SDK's handle yielded must be each attempt's tokens once, in seq order from 0 with no
 * gap, each a prefix of the answer (resume on reconnect); `spells` then checks that the last
 * attempt is the whole answer. Every attempt streams it whole: the agent SDK sends a moved or
 * repeated run's tokens again, and these agents stream a repeat they answer from their store.
 */
function streamProblems(e: SentEvent, content: string): string[] {
  const problems: string[] = [];
  let attempt = 0;
  let next = 0;
  let text = '';
  for (const t of e.streamed) {
    if (t.attempt !== attempt) {
      if (t.attempt < attempt) problems.push(`${e.eventId} streamed attempt ${t.attempt} after ${attempt}`);
      attempt = t.attempt;
      next = 0;
      text = '';
    }
    if (t.seq !== next) problems.push(`${e.eventId} streamed seq ${t.seq} of attempt ${attempt} where ${next} was due`);
    next = t.seq + 1;
    text += t.text;
    if (!content.startsWith(text)) problems.push(`${e.eventId} streamed ${JSON.stringify(text)}, not a prefix of ${JSON.stringify(content)}`);
  }
  return problems.slice(0, 3);
}

function spells(streamed: SentEvent['streamed'], content: string): boolean {
  const last = streamed.at(-1)?.attempt;
  return streamed.filter((t) => t.attempt === last).map((t) => t.text).join('') === content;
}

/**
 * One agent run as several workers (SDK clients). Delivery is at least once, so every delivery
 * is counted on the wire; the workers dedupe by event_id through a shared map of answers (the
 * SDK dedupes within one client), and answer a repeat with the answer already given, streamed
 * again (a repeat is a new attempt).
 */
export class ChaosAgent {
  readonly clients: AgentClient[] = [];
  /** Deliveries per event_id, as they came off the wire. */
  readonly delivered = new Map<string, number>();
  deliveries = 0;
  redeliveries = 0;
  /** Answers already given, by event_id, shared by the workers. */
  private readonly answers = new Map<string, string>();
  readonly errors = new Map<string, number>();
  readonly problems: string[] = [];

  constructor(
    readonly agentId: string,
    token: string,
    pool: NodePool,
    clients: number,
  ) {
    const onFrame = (frame: Frame) => this.onFrame(frame);
    const onJunk = (text: string) => this.problems.push(`frame that is not JSON: ${text}`);
    for (let i = 0; i < clients; i++) {
      const client = createAgentClient({
        url: pool.pickUrl(),
        token,
        concurrency: 8,
        WebSocket: poolSocket(pool, onFrame, onJunk),
        backoff: CHAOS_BACKOFF,
      });
      client.on('error', (err) => {
        bump(this.errors, err.code);
        if (err.code === 'INVALID_MESSAGE' || err.code === 'INVALID_JSON') this.problems.push(`client error: ${err.message}`);
      });
      client.on('handlerError', ({ error }) => this.problems.push(`handler failed: ${String(error)}`));
      client.on('state', (change) => {
        if (change.state === 'closed' && change.error) this.problems.push(`client gave up: ${change.error.message}`);
      });
      client.onEvent((event, reply) => this.answer(event, reply));
      this.clients.push(client);
    }
  }

  opened(): Promise<void[]> {
    return Promise.all(this.clients.map((c) => c.opened()));
  }

  /** Deliveries beyond the first of each event: `attempt` > 1, or the same event_id again. */
  duplicates(): number {
    return this.deliveries - this.delivered.size;
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.close()));
  }

  private async answer(event: AgentEventFrame, reply: Reply): Promise<unknown> {
    const given = this.answers.get(event.event_id);
    if (given !== undefined) {
      // This delivery is a new attempt: the app drops the older one's text, so stream it again.
      for (const token of answerFor(event.payload as { app: string; n: number }).tokens) reply.token(token);
      return reply.done(given);
    }
    const { tokens, content } = answerFor(event.payload as { app: string; n: number });
    for (const token of tokens) {
      if (reply.signal.aborted) return undefined;
      reply.token(token);
      await sleep(Math.random() * 8);
    }
    if (reply.signal.aborted) return undefined;
    this.answers.set(event.event_id, content);
    return reply.done(content);
  }

  private onFrame(frame: Frame): void {
    if (frame.type === 'event') {
      const id = frame.event_id as string;
      this.deliveries += 1;
      if ((frame.attempt as number) > 1) this.redeliveries += 1;
      this.delivered.set(id, (this.delivered.get(id) ?? 0) + 1);
    } else if (frame.type === 'error') {
      bump(this.errors, `frame ${frame.code as string}`);
    }
  }
}

/** `{A: 3, B: 1}` as `A 3, B 1`, or `none`. */
export function countsText(counts: Map<string, number>): string {
  return counts.size === 0 ? 'none' : [...counts].map(([k, v]) => `${k} ${v}`).join(', ');
}
