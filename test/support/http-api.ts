import http from 'node:http';
import type { Frame } from './client';
import type { HttpAnswer } from './wire-probe';

// Clients of the HTTP API for tests, on node:http with no connection pool: each request opens
// its own TCP connection, so behind the test balancer consecutive requests land on different
// nodes.

export interface ApiRequest {
  token?: string;
  /** A value to send as JSON, or text sent as it is. */
  body?: unknown;
  headers?: Record<string, string>;
}

/** One request, read to the end. */
export function api(baseUrl: string, method: string, path: string, request: ApiRequest = {}): Promise<HttpAnswer & { json: Frame }> {
  const body = request.body === undefined ? undefined : typeof request.body === 'string' ? request.body : JSON.stringify(request.body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${baseUrl}${path}`,
      {
        method,
        agent: false,
        headers: {
          ...(request.token ? { authorization: `Bearer ${request.token}` } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...request.headers,
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          let json: Frame = {};
          try {
            json = JSON.parse(text) as Frame;
          } catch {
            // not JSON: the test reads `body`
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, json });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** One SSE event as received. */
export interface SseEvent {
  event: string;
  id: string | undefined;
  data: string;
  frame: Frame;
}

/**
 * An SSE stream read as it comes: its events parsed (each `data:` must be a frame), its
 * comments counted. A non-200 answer is read whole instead (`status`, `body`).
 */
export class SseClient {
  readonly events: SseEvent[] = [];
  comments: string[] = [];
  status = 0;
  headers: http.IncomingHttpHeaders = {};
  body = '';
  /** Resolves once the response ended (or the connection broke). */
  readonly ended: Promise<void>;
  private res: http.IncomingMessage | undefined;
  private req: http.ClientRequest;
  private buffer = '';
  private waiters: (() => void)[] = [];
  private answered!: () => void;
  readonly started: Promise<void>;

  constructor(baseUrl: string, method: string, path: string, request: ApiRequest = {}) {
    const body = request.body === undefined ? undefined : typeof request.body === 'string' ? request.body : JSON.stringify(request.body);
    this.started = new Promise((resolve) => (this.answered = resolve));
    let done!: () => void;
    this.ended = new Promise((resolve) => (done = resolve));
    this.req = http.request(`${baseUrl}${path}`, {
      method,
      agent: false,
      headers: {
        accept: 'text/event-stream',
        ...(request.token ? { authorization: `Bearer ${request.token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...request.headers,
      },
    });
    this.req.on('response', (res) => {
      this.res = res;
      this.status = res.statusCode ?? 0;
      this.headers = res.headers;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => this.take(chunk));
      res.on('end', () => done());
      res.on('close', () => done());
      res.on('error', () => done());
      this.answered();
    });
    this.req.on('error', () => {
      this.answered();
      done();
    });
    this.req.end(body);
    void this.ended.then(() => this.wake());
  }

  private take(chunk: string): void {
    if (this.status !== 200) {
      this.body += chunk;
      return;
    }
    this.buffer += chunk;
    for (;;) {
      const end = this.buffer.indexOf('\n\n');
      if (end < 0) break;
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const fields = { event: 'message', id: undefined as string | undefined, data: [] as string[] };
      let isEvent = false;
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) this.comments.push(line);
        else {
          isEvent = true;
          const colon = line.indexOf(':');
          const name = line.slice(0, colon);
          const value = line.slice(colon + 1).replace(/^ /, '');
          if (name === 'event') fields.event = value;
          else if (name === 'id') fields.id = value;
          else if (name === 'data') fields.data.push(value);
        }
      }
      if (isEvent) {
        const data = fields.data.join('\n');
        this.events.push({ event: fields.event, id: fields.id, data, frame: JSON.parse(data) as Frame });
      }
    }
    this.wake();
  }

  private wake(): void {
    const waiters = this.waiters.splice(0);
    waiters.forEach((w) => w());
  }

  /** Resolves once `done()` holds, or rejects after `timeoutMs`. */
  async until(done: () => boolean, timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`SSE condition not met; events: ${this.events.map((e) => e.event).join(',')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 100));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The first event (from the start) of this type, waiting for it. */
  async nextOf(event: string, timeoutMs?: number): Promise<SseEvent> {
    await this.until(() => this.events.some((e) => e.event === event), timeoutMs);
    return this.events.find((e) => e.event === event) as SseEvent;
  }

  /** Stops reading: the kernel's buffers fill and the server sees backpressure. */
  pause(): void {
    this.res?.pause();
    this.req.socket?.pause();
  }

  resume(): void {
    this.res?.resume();
    this.req.socket?.resume();
  }

  /** The client goes away mid-stream. */
  destroy(): void {
    this.req.destroy();
  }
}
