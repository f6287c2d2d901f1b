import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { AgentOutboundFrame, AppOutboundFrame, type Role } from '@relay/protocol';

export type Frame = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface ConnectOptions {
  /** Send the token as `?token=` instead of the Authorization header. */
  queryToken?: boolean;
  subprotocols?: string[];
}

/**
 * A test client over a real WebSocket. Every frame the relay sends is checked against the
 * protocol's outbound schema for the role, so any malformed frame fails the test that got it.
 */
export class TestClient {
  readonly frames: Frame[] = [];
  readonly invalid: { frame: unknown; issues: string }[] = [];
  private cursor = 0;
  private closeCode: number | undefined;
  private waiters: (() => void)[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(
    readonly ws: WebSocket,
    readonly role: Role,
  ) {
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as Frame;
      const schema = role === 'app' ? AppOutboundFrame : AgentOutboundFrame;
      const check = schema.safeParse(frame);
      if (!check.success) this.invalid.push({ frame, issues: check.error.message });
      this.frames.push(frame);
      this.wake();
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        this.closeCode = code;
        this.wake();
        resolve({ code, reason: reason.toString() });
      }),
    );
  }

  static async connect(baseUrl: string, role: Role, token: string, options: ConnectOptions = {}): Promise<TestClient> {
    const path = role === 'app' ? '/v1/ws/app' : '/v1/ws/agent';
    const url = options.queryToken ? `${baseUrl}${path}?token=${encodeURIComponent(token)}` : `${baseUrl}${path}`;
    const ws = new WebSocket(url, options.subprotocols ?? [], {
      headers: options.queryToken ? {} : { Authorization: `Bearer ${token}` },
    });
    const client = new TestClient(ws, role);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new UpgradeRefused(res.statusCode ?? 0)));
    });
    return client;
  }

  /**
   * Resolves once the node has done an agent socket's opening work (presence, its place in the
   * queue), or the node closed the socket instead. The socket being open is not enough: an event
   * sent at that moment can find the agent not yet attached and be answered `queued: true` (and
   * delivered as the attach lands), which on a cluster makes tests that expect `queued: false`
   * flaky. A frame on the socket's ordered queue is answered only after that work: a token for an
   * event nobody holds, answered UNKNOWN_EVENT (taken here, so tests never see it).
   */
  async attached(): Promise<void> {
    const ref = `attached-${randomBytes(4).toString('hex')}`;
    this.send({ type: 'token', event_id: 'evt_0attachbarrier', token: 'x', ref });
    const answered = this.next((f) => f.type === 'error' && f.code === 'UNKNOWN_EVENT' && f.ref === ref, 10_000);
    answered.catch(() => {}); // a socket the node closed never answers: `closed` wins the race
    await Promise.race([answered, this.closed]);
  }

  send(frame: Frame | string): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** The next frame (after those already taken) that matches, waiting up to `timeoutMs`. */
  async next(match: (f: Frame) => boolean = () => true, timeoutMs = 5_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (let i = this.cursor; i < this.frames.length; i++) {
        const frame = this.frames[i] as Frame;
        if (match(frame)) {
          this.frames.splice(i, 1);
          return frame;
        }
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `no matching frame within ${timeoutMs} ms (socket ${['connecting', 'open', 'closing', 'closed'][this.ws.readyState]}${this.closeCode === undefined ? '' : `, closed ${this.closeCode}`}); unmatched: ${JSON.stringify(this.frames.slice(this.cursor))}`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The next frame of the given type (and, if given, for this event). */
  nextOf(type: string, eventId?: string, timeoutMs?: number): Promise<Frame> {
    return this.next((f) => f.type === type && (eventId === undefined || f.event_id === eventId), timeoutMs);
  }

  /** Waits `ms` and returns the frames that arrived meanwhile and were not taken. */
  async quiet(ms: number): Promise<Frame[]> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return this.frames.slice(this.cursor);
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(1000);
    await this.closed;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

export class UpgradeRefused extends Error {
  constructor(readonly status: number) {
    super(`upgrade refused with HTTP ${status}`);
  }
}

/** An app event frame with sensible defaults. */
export function eventFrame(overrides: Frame = {}): Frame {
  return {
    type: 'event',
    agent_id: 'athena',
    thread_id: 'portal:task-123:comment-456',
    payload: { event: 'comment.mention', task_id: 'task-123' },
    ...overrides,
  };
}
