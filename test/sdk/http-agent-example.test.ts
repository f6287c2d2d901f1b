/**
 * examples/sdk/http-agent.js run the way a user runs it: a process serving the SDK's
 * createHttpAgentHandler on Node's http server, registered as athena's webhook, answering
 * examples/sdk/app.js through a real gateway process. No agent socket anywhere.
 */
import path from 'node:path';
import { memoryBackend } from '../support/backends';
import { refusedPort, webhookSecret } from '../support/http-agent-server';
import { useRelay } from '../support/relay-fixture';
import { Child, killChildren, ROOT } from '../seeds/child-process';

const HTTP_AGENT = path.join(ROOT, 'examples/sdk/http-agent.js');
const APP = path.join(ROOT, 'examples/sdk/app.js');
const secret = webhookSecret();
let port: number;

beforeAll(async () => {
  port = await refusedPort();
});

describe('examples/sdk/http-agent.js behind a relay process', () => {
  const suite = useRelay(memoryBackend, {
    registry: () => ({ agents: { athena: { webhook_url: `http://127.0.0.1:${port}/`, webhook_secret: secret } } }),
    env: { RELAY_NODE_TTL_MS: '1500' },
  });
  afterEach(killChildren);

  const httpAgent = async () => {
    const child = Child.node('http-agent.js', HTTP_AGENT, { WEBHOOK_SECRET: secret, PORT: String(port), FAKE_LLM_WORD_MS: '2' });
    await child.waitFor(`listening on ${port}`);
    return child;
  };

  test('app.js gets the fake LLM answer streamed token by token from the HTTP agent, then the reply; exit 0', async () => {
    const agent = await httpAgent();
    const sender = Child.node('app.js', APP, { RELAY_URL: suite.relay.url, RELAY_TOKEN: suite.tokens.portal }, ['what did we decide?']);
    const exit = await sender.exit(20_000);
    expect({ exit, stderr: sender.stderr }).toEqual({ exit: { code: 0, signal: null }, stderr: '' });
    const text =
      'Here is what I make of "what did we decide?": the team agreed to ship mobile first, ' +
      'to review the Q2 roadmap on Friday, and to keep the beta small until the crash rate drops.';
    expect(sender.stdout).toContain(`\nstreaming: ${text}\nreply finish_reason=stop tokens_used=${text.split(/(?<= )/).length} latency_ms=`);
    const [, eventId] = /\naccepted (evt_\S+) /.exec(sender.stdout) ?? [];
    await agent.waitFor(`${eventId} attempt 1 from portal answered (${text.length} chars)`);
  }, 30_000);

  test('a POST that is not signed with the secret is refused with 401, and runs nothing', async () => {
    const agent = await httpAgent();
    const res = await fetch(`http://127.0.0.1:${port}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'webhook-id': 'x', 'webhook-timestamp': String(Math.floor(Date.now() / 1000)), 'webhook-signature': 'v1,AAAA' },
      body: JSON.stringify({ type: 'event', event_id: 'evt_0forged', payload: {} }),
    });
    expect(res.status).toBe(401);
    expect(agent.stdout).not.toContain('evt_0forged');
  });
});
