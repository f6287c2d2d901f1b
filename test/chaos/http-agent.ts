import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import type { AgentEventFrame } from '@relay/protocol';
import { createHttpAgentHandler } from '@relay/sdk';
import { answerFor, sleep } from './harness';

/**
 * The chaos test's agent over HTTP: the SDK's createHttpAgentHandler on a real node:http server,
 * answering as the socket agents do (answerFor), streamed as NDJSON. Node kills and drains cut
 * its requests midway; it counts what reached it, with the same fields as ChaosAgent.
 */
export class ChaosHttpAgent {
  readonly delivered = new Map<string, number>();
  deliveries = 0;
  redeliveries = 0;
  readonly errors = new Map<string, number>();
  readonly problems: string[] = [];

  private constructor(
    readonly agentId: string,
    private readonly server: Server,
  ) {}

  static async start(agentId: string, secret: string): Promise<ChaosHttpAgent> {
    let agent: ChaosHttpAgent | undefined;
    const handler = createHttpAgentHandler(secret, async (event, reply) => {
      agent?.count(event);
      const { tokens, content } = answerFor(event.payload as { app: string; n: number });
      for (const token of tokens) {
        if (reply.signal.aborted) return undefined;
        reply.token(token);
        await sleep(Math.random() * 8);
      }
      return reply.done(content);
    });
    const server = createServer(async (req, res) => {
      const cut = new AbortController();
      res.on('close', () => cut.abort());
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const response = await handler(
        new Request('http://agent.test/', { method: 'POST', headers: req.headers as Record<string, string>, body: Buffer.concat(chunks), signal: cut.signal }),
      );
      if (response.status === 401) agent?.problems.push('a POST whose signature did not verify');
      res.writeHead(response.status, { 'content-type': response.headers.get('content-type') ?? 'text/plain' });
      if (response.body) Readable.fromWeb(response.body as never).on('error', () => res.destroy()).pipe(res);
      else res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    agent = new ChaosHttpAgent(agentId, server);
    return agent;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/`;
  }

  async opened(): Promise<void> {}

  duplicates(): number {
    return this.deliveries - this.delivered.size;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private count(event: AgentEventFrame): void {
    this.deliveries += 1;
    if (event.attempt > 1) this.redeliveries += 1;
    this.delivered.set(event.event_id, (this.delivered.get(event.event_id) ?? 0) + 1);
  }
}
