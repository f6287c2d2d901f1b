import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyWebhook } from '@relay/sdk';

/** What the receiver does with one POST: answer a status, redirect, or never answer. */
export type Behaviour = { status: number } | { redirect: string } | 'hang';

export interface ReceivedWebhook {
  /** When it arrived (receiver clock), ms. */
  at: number;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The parsed body if the signature verified with the receiver's secret at that moment, else the error. */
  verified: unknown;
  ok: boolean;
  /** What the receiver answered. */
  answered: Behaviour;
}

/**
 * A real local HTTP receiver of the relay's webhooks: it checks every POST's signature with the
 * SDK's `verifyWebhook` and answers by a script (`next`), 200 once the script is used up, so a
 * test can make it fail on purpose.
 */
export async function startWebhookReceiver(secret: string) {
  const received: ReceivedWebhook[] = [];
  const script: Behaviour[] = [];
  const hanging = new Set<ServerResponse>();
  let current = secret;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const answered = script.shift() ?? { status: 200 };
      verifyWebhook(current, req.headers as Record<string, string>, body).then(
        (parsed) => received.push({ at: Date.now(), path: req.url ?? '', headers: req.headers, body, verified: parsed, ok: true, answered }),
        (err: unknown) => received.push({ at: Date.now(), path: req.url ?? '', headers: req.headers, body, verified: err, ok: false, answered }),
      ).finally(() => {
        if (answered === 'hang') return void hanging.add(res);
        if ('redirect' in answered) res.writeHead(302, { location: answered.redirect }).end();
        else res.writeHead(answered.status, { 'content-type': 'text/plain' }).end('ok');
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    received,
    /** Answers to the next POSTs, in order. */
    next(...behaviours: Behaviour[]) {
      script.push(...behaviours);
    },
    /** The secret signatures are checked with from now on (after a rotation). */
    useSecret(next: string) {
      current = next;
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export type WebhookReceiver = Awaited<ReturnType<typeof startWebhookReceiver>>;

/** A fresh signing secret as the relay makes them: whsec_ + base64 of 32 random bytes. */
export function testWebhookSecret(): string {
  return `whsec_${Buffer.from(Array.from({ length: 32 }, () => Math.floor(Math.random() * 256))).toString('base64')}`;
}
