import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyWebhook } from '@relay/protocol';
import type { Frame } from './client';

/** A fresh webhook secret: `whsec_` + base64 of 24 random bytes. */
export function webhookSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

/** One POST the relay made to the agent's webhook, verified. */
export interface WebhookCall {
  frame: Frame;
  headers: IncomingMessage['headers'];
}

/** How the agent answers one POST; it writes to `res` itself. */
export type Answer = (call: WebhookCall, res: ServerResponse) => void | Promise<void>;

export interface HttpAgentServer {
  readonly url: string;
  readonly port: number;
  /** Every verified POST, in arrival order (events and cancels). */
  readonly calls: WebhookCall[];
  /** POSTs whose signature did not verify (none, in a correct relay). */
  readonly unsigned: number;
  /** Answers POSTs from now on (events and cancels alike). */
  answer(fn: Answer): void;
  /** Stops listening and ends every open answer. */
  close(): Promise<void>;
}

/**
 * A real HTTP agent on a local port (node:http): it verifies every POST's Standard Webhooks
 * signature with the agent's secret, records it, and answers as the test tells it.
 */
export async function startHttpAgentServer(secret: string, port = 0): Promise<HttpAgentServer> {
  const calls: WebhookCall[] = [];
  let unsigned = 0;
  let answer: Answer = (_call, res) => void res.writeHead(500).end();
  const open = new Set<ServerResponse>();
  const server: Server = createServer((req, res) => {
    open.add(res);
    res.on('close', () => open.delete(res));
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      verifyWebhook(secret, req.headers as Record<string, string>, body).then(
        (frame) => {
          const call = { frame: frame as Frame, headers: req.headers };
          calls.push(call);
          return answer(call, res);
        },
        () => {
          unsigned += 1;
          res.writeHead(401).end();
        },
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const bound = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${bound}/hook`,
    port: bound,
    calls,
    get unsigned() {
      return unsigned;
    },
    answer(fn) {
      answer = fn;
    },
    async close() {
      for (const res of open) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A free local port with nothing listening on it (connections to it are refused). */
export async function refusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The standard answers of the contract's table. */
export const answers = {
  json(content: string): Answer {
    return (_call, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ content, finish_reason: 'stop' }));
    };
  },
  /** NDJSON token lines, `gapMs` apart, then the reply line. */
  ndjson(tokens: string[], gapMs = 0, reply = true): Answer {
    return async (_call, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      for (const token of tokens) {
        res.write(`${JSON.stringify({ type: 'token', token })}\n`);
        if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
      }
      if (reply) res.write(`${JSON.stringify({ type: 'reply', content: tokens.join(''), finish_reason: 'stop' })}\n`);
      res.end();
    };
  },
  status(code: number): Answer {
    return (_call, res) => void res.writeHead(code).end();
  },
};
