import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import type { Frame } from '../../support/client';

/** One connection to the scripted relay, with every frame the client sent on it. */
export interface ScriptedConnection {
  ws: WebSocket;
  frames: Frame[];
  /** When it opened (Date.now()). */
  at: number;
  protocol: string;
  authorization: string | undefined;
  url: string;
}

/**
 * A stand-in relay (a plain `ws` server) that a test scripts frame by frame: answer out of order,
 * refuse the upgrade with an HTTP status, close with any code, stay silent, redeliver. Echoes the
 * offered subprotocol like the real relay.
 */
export class ScriptedRelay {
  readonly connections: ScriptedConnection[] = [];
  /** Upgrades so far, refused or not. */
  attempts = 0;
  /** When set, upgrades are refused with this HTTP status. */
  refuseWith: number | undefined;
  /** Called for each new connection, for the test's script. */
  onConnection: (conn: ScriptedConnection, index: number) => void = () => undefined;
  private waiters: (() => void)[] = [];

  private constructor(private readonly server: WebSocketServer) {}

  static async start(): Promise<ScriptedRelay> {
    let relay: ScriptedRelay | undefined;
    const server = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      handleProtocols: (protocols) => [...protocols][0] ?? false,
      verifyClient: (_info, done) => {
        const self = relay as ScriptedRelay;
        self.attempts += 1;
        self.wake();
        if (self.refuseWith) done(false, self.refuseWith);
        else done(true);
      },
    });
    relay = new ScriptedRelay(server);
    server.on('connection', (ws, req) => relay?.accept(ws, req.headers.authorization, req.url ?? ''));
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    return relay;
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Resolves with `check()`'s value once it is truthy, re-checked on every frame and connection. */
  async waitFor<T>(check: () => T | undefined | false, timeoutMs = 5_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = check();
      if (value) return value;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`scripted relay: condition not met within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 50));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async close(): Promise<void> {
    for (const client of this.server.clients) client.terminate();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(ws: WebSocket, authorization: string | undefined, url: string): void {
    const conn: ScriptedConnection = { ws, frames: [], at: Date.now(), protocol: ws.protocol, authorization, url };
    this.connections.push(conn);
    ws.on('message', (data) => {
      conn.frames.push(JSON.parse(data.toString()) as Frame);
      this.wake();
    });
    this.wake();
    this.onConnection(conn, this.connections.length - 1);
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

/** Frames a real relay would send, complete enough for the SDK's schema checks. */
export const relayFrames = {
  accepted: (ref: string, eventId: string, agentId = 'athena', threadId = 'portal:t') => ({
    type: 'accepted', event_id: eventId, agent_id: agentId, thread_id: threadId,
    session_key: `relay:${agentId}:${threadId}`, status: 'accepted', queued: false, ref,
  }),
  reply: (eventId: string, content: string) => ({
    type: 'reply', event_id: eventId, agent_id: 'athena', thread_id: 'portal:t', content, reply: content,
    finish_reason: 'stop', payload: {}, metadata: { tokens_used: 1, latency_ms: 5 },
  }),
  token: (eventId: string, seq: number, token: string, attempt = 1) => ({
    type: 'token', event_id: eventId, agent_id: 'athena', token, seq, attempt,
  }),
  resumed: (ref: string, eventId: string, fromSeq: number, attempt = 1) => ({
    type: 'resumed', event_id: eventId, attempt, from_seq: fromSeq, ref,
  }),
  agents: (ref: string) => ({ type: 'agents', agents: [], ref }),
  event: (eventId: string, attempt: number, threadId = 'portal:t') => ({
    type: 'event', event_id: eventId, agent_id: 'athena', app_id: 'portal', thread_id: threadId,
    session_key: `relay:athena:${threadId}`, payload: { message: 'hi' }, attempt, created_at: new Date().toISOString(),
  }),
};
