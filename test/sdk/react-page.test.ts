/**
 * examples/react-reply-stream in Chromium: the page (React 19 and @relay/sdk/react's
 * useReplyStream, bundled by server.js) asks its backend, which sends the event over the relay's
 * HTTP API and proxies its SSE stream; the answer grows on the page as the agent streams it.
 */
import { existsSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { memoryBackend } from '../support/backends';
import { useRelay } from '../support/relay-fixture';

const CHROMIUM = '/usr/bin/chromium';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const example = require(path.resolve(__dirname, '../../examples/react-reply-stream/server.js')) as {
  bundlePage(): Promise<string>;
  createBackend(options: { relayUrl: string; token: string; pageJs: string }): Server;
};

describe('the React page of examples/react-reply-stream', () => {
  const r = useRelay(memoryBackend);
  let browser: Browser;
  let server: Server;
  let url: string;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run installs it)`);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    server = example.createBackend({ relayUrl: r.relay.httpUrl, token: r.tokens.portal, pageJs: await example.bundlePage() });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  }, 30_000);
  afterAll(async () => {
    await browser?.close();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  test('the page asks; useReplyStream shows the tokens as they come, then the whole reply', async () => {
    const agent = await r.connect('athena');
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(err.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(`${msg.text()} ${msg.location().url}`);
    });
    await page.goto(url);
    await page.fill('#question', 'from React');
    await page.click('#ask');
    const event = await agent.nextOf('event', undefined, 10_000);
    expect(event.payload).toEqual({ question: 'from React' });
    // the agent may have the event before the page has the backend's answer
    await page.waitForFunction((id) => document.getElementById('event')?.textContent === id, event.event_id);

    agent.send({ type: 'token', event_id: event.event_id, token: 'Ship ' });
    await page.waitForFunction(() => document.getElementById('answer')?.textContent === 'Ship ');
    agent.send({ type: 'token', event_id: event.event_id, token: 'it' });
    await page.waitForFunction(() => document.getElementById('answer')?.textContent === 'Ship it');
    agent.send({ type: 'reply', event_id: event.event_id, content: 'Ship it.', finish_reason: 'stop' });
    await page.waitForFunction(() => document.getElementById('done')?.textContent === 'done stop');
    expect(await page.textContent('#answer')).toBe('Ship it.');
    expect(problems).toEqual([]);
    await page.close();
  }, 30_000);
});
