/**
 * examples/sdk run the way a user runs them, as processes against a real gateway process: the
 * agent streams a fake LLM answer, the app prints it, and the browser page, bundled with esbuild
 * and served by serve.js, does the same in Debian's headless chromium (driven by playwright-core).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { backendsUnderTest } from '../support/backends';
import { useRelay } from '../support/relay-fixture';
import { Child, killChildren, ROOT } from '../seeds/child-process';

const AGENT = path.join(ROOT, 'examples/sdk/agent.js');
const APP = path.join(ROOT, 'examples/sdk/app.js');
const SERVE = path.join(ROOT, 'examples/sdk/browser/serve.js');
const CHROMIUM = '/usr/bin/chromium';

/** examples/sdk/fake-llm.js's fake model answer. */
const fakeAnswer = (prompt: string) =>
  `Here is what I make of "${prompt}": the team agreed to ship mobile first, ` +
  'to review the Q2 roadmap on Friday, and to keep the beta small until the crash rate drops.';

describe.each(backendsUnderTest())('SDK examples against a relay process ($name backend)', (backend) => {
  const suite = useRelay(backend);
  afterEach(killChildren);

  const agent = async (env: Record<string, string> = {}) => {
    const child = Child.node('agent.js', AGENT, { RELAY_URL: suite.relay.url, RELAY_TOKEN: suite.tokens.athena, FAKE_LLM_WORD_MS: '2', ...env });
    await child.waitFor('state open');
    return child;
  };
  const app = (message: string, env: Record<string, string> = {}) =>
    Child.node('app.js', APP, { RELAY_URL: suite.relay.url, RELAY_TOKEN: suite.tokens.portal, ...env }, [message]);

  test('app.js discovers, streams the fake LLM answer from agent.js and prints the reply; exit 0', async () => {
    const athena = await agent();
    const sender = app('what did we decide?');
    const exit = await sender.exit(20_000);
    expect({ exit, stderr: sender.stderr }).toEqual({ exit: { code: 0, signal: null }, stderr: '' });
    const text = fakeAnswer('what did we decide?');
    const out = sender.stdout;
    expect(out).toMatch(/^agents: (athena \(online\), klyve \(offline\)|klyve \(offline\), athena \(online\))\n/);
    const eventId = /\naccepted (evt_\S+) session=relay:athena:portal:task-123 queued=false\n/.exec(out)?.[1];
    expect(eventId).toBeDefined();
    expect(out).toContain(`\nstreaming: ${text}\nreply finish_reason=stop tokens_used=${text.split(/(?<= )/).length} latency_ms=`);
    expect(out.endsWith(`\n${text}\n`)).toBe(true);
    await athena.waitFor(`${eventId} attempt 1 from portal answered (${text.length} chars)`);
  }, 30_000);

  test('app.js gives up after RELAY_TIMEOUT_MS by cancelling: CANCELLED, exit 1; agent.js stops streaming', async () => {
    const athena = await agent({ FAKE_LLM_WORD_MS: '200' });
    const sender = app('take your time', { RELAY_TIMEOUT_MS: '700' });
    expect(await sender.exit(20_000)).toEqual({ code: 1, signal: null });
    expect(sender.stderr).toMatch(/^error CANCELLED: /m);
    const [, eventId] = /\naccepted (evt_\S+) /.exec(sender.stdout) ?? [];
    await athena.waitFor(`${eventId} cancelled: stopped after`);
    expect(athena.stdout).not.toContain(`${eventId} attempt 1 from portal answered`);
  }, 30_000);

  test('a refused token: app.js and agent.js exit 1 with UNAUTHORIZED instead of retrying', async () => {
    const sender = app('x', { RELAY_TOKEN: 'rlk_portal_not-a-real-token' });
    const athena = Child.node('agent.js', AGENT, { RELAY_URL: suite.relay.url, RELAY_TOKEN: 'rla_athena_not-a-real-token' });
    expect(await sender.exit()).toEqual({ code: 1, signal: null });
    expect(await athena.exit()).toEqual({ code: 1, signal: null });
    expect(sender.stderr).toContain('error UNAUTHORIZED: the relay refused the token (HTTP 401)');
    expect(athena.stderr).toContain('agent: UNAUTHORIZED: the relay refused the token (HTTP 401)');
  });

  test('agent.js closes cleanly on SIGTERM: exit 0', async () => {
    const athena = await agent();
    athena.signal('SIGTERM');
    expect(await athena.exit(5_000)).toEqual({ code: 0, signal: null });
    expect(athena.stdout).toContain('SIGTERM: closing\nstate closed\n');
  });

  describe('the browser page (examples/sdk/browser)', () => {
    let browser: Browser;

    beforeAll(async () => {
      if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run installs it)`);
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      });
    });
    afterAll(async () => {
      await browser?.close();
    });

    test('serve.js bundles the SDK for the browser without ws; the page streams the answer and shows the reply', async () => {
      await agent();
      const server = Child.node('serve.js', SERVE, { RELAY_URL: suite.relay.url, RELAY_TOKEN: suite.tokens.portal, PORT: '0' });
      const [, url] = await server.waitFor(/open (http:\/\/\S+)/, 20_000);
      expect(server.stdout).toMatch(/bundled page\.js: \d+ KiB from @relay\/protocol, @relay\/sdk, page, zod\n/);

      const page = await browser.newPage();
      const problems: string[] = [];
      page.on('pageerror', (err) => problems.push(err.message));
      page.on('console', (msg) => {
        if (msg.type() === 'error') problems.push(msg.text());
      });
      await page.goto(url as string);
      await page.waitForFunction(() => (document.getElementById('token') as HTMLInputElement).value !== '');
      await page.fill('#message', 'from a browser');
      await page.click('#send');
      await page.waitForFunction(() => document.getElementById('final')?.textContent?.startsWith('finish_reason='), undefined, { timeout: 15_000 });

      expect(await page.textContent('#answer')).toBe(fakeAnswer('from a browser'));
      expect(await page.textContent('#final')).toMatch(/^finish_reason=stop tokens_used=\d+ latency_ms=\d+$/);
      expect(await page.textContent('#event')).toMatch(/^evt_/);
      expect(await page.textContent('#state')).toBe('open');
      expect(await page.textContent('#error')).toBe('');
      expect(problems).toEqual([]);
      await page.close();
    }, 30_000);
  });
});
