/**
 * The live Dashboard in a real browser (Debian's headless chromium, driven by playwright-core)
 * against two gateway processes sharing one redis-server: the page is served by node 2, the
 * agent is connected to node 1, and real traffic flows (tokens, a reply, an agent timeout, an
 * expiry, an event left waiting). Asserts what the charts and lists show, that they update
 * without a reload, that the keyboard reaches everything (and keeps its place across refreshes),
 * and that the page fits a phone; then the same page on the memory backend. Screenshots go to
 * test-artifacts/.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ADMIN_TOKEN, adminApi } from '../support/admin';
import { eventFrame, type TestClient } from '../support/client';
import { send } from '../support/lifecycle';
import { startRedis, type RedisUnderTest } from '../support/redis-server';
import { startRelay, type RelayProcess } from '../support/relay-process';
import { testRegistry } from '../support/registry';
import { ACTIVITY_ENV, drive, PAYLOAD_MARKER, type Traffic } from './activity-traffic';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.resolve(__dirname, '../../test-artifacts');

/** Pixels of this colour (as drawn by uPlot, anti-aliasing aside) on a chart's canvas. */
async function pixelsOf(page: Page, selector: string, hex: string): Promise<number> {
  return page.evaluate(
    ([sel, color]) => {
      const canvas = document.querySelector<HTMLCanvasElement>(`${sel} canvas`);
      const ctx = canvas?.getContext('2d');
      if (!canvas || !ctx) return -1;
      const [r, g, b] = [1, 3, 5].map((i) => parseInt(color.slice(i, i + 2), 16));
      const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
      let n = 0;
      for (let i = 0; i < data.length; i += 4) {
        if (Math.abs((data[i] as number) - (r as number)) < 8 && Math.abs((data[i + 1] as number) - (g as number)) < 8 && Math.abs((data[i + 2] as number) - (b as number)) < 8) n += 1;
      }
      return n;
    },
    [selector, hex] as const,
  );
}

/** Polls `done` until it holds, failing with `what` after 20 s. */
async function until(what: string, done: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('the live Dashboard in a real browser, on two Redis nodes', () => {
  let redis: RedisUnderTest;
  let nodes: RelayProcess[] = [];
  let browser: Browser;
  let page: Page;
  const { registry, tokens } = testRegistry();
  const clients: TestClient[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`);
    redis = await startRedis();
    const env = { ...ACTIVITY_ENV, REDIS_URL: redis.url, RELAY_REDIS_PREFIX: redis.prefix };
    nodes = await Promise.all([startRelay({ registry, env }), startRelay({ registry, env })]);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('pageerror', (err) => pageErrors.push(err.message));
    // A CSP violation (an inline style or script) is reported here as a console error.
    page.on('console', (msg) => {
      if (msg.type() === 'error') pageErrors.push(msg.text());
    });
    page.on('requestfailed', (request) => pageErrors.push(`request failed: ${request.url()}`));
  }, 60_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await browser?.close();
    const codes = await Promise.all(nodes.map((n) => n.stop()));
    await redis?.stop();
    expect(codes).toEqual(nodes.map(() => 0));
  });

  const card = (name: string) => page.locator('#overview-totals .card', { has: page.locator('dt', { hasText: new RegExp(`^${name}$`) }) }).locator('dd');
  const waitText = async (locator: ReturnType<Page['locator']>, text: string | RegExp, timeout = 20_000) => {
    await locator.filter({ hasText: text }).first().waitFor({ timeout });
  };

  test('overview, recent events and per-agent activity show real traffic and update live', async () => {
    const [one, two] = nodes as [RelayProcess, RelayProcess];
    const traffic: Traffic = await drive(two, one, tokens, clients);

    const response = await page.goto(`${two.httpUrl}/dashboard/`);
    const csp = response?.headers()['content-security-policy'] ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    await page.evaluate(() => {
      (window as unknown as { notReloaded: boolean }).notReloaded = true;
    });
    await page.getByLabel('Admin token').fill(ADMIN_TOKEN);
    await page.getByLabel('Admin token').press('Enter');
    await page.getByRole('heading', { name: 'Overview' }).waitFor();

    // Every form control has a label a screen reader can announce.
    const unlabelled = await page.evaluate(() =>
      Array.from(document.querySelectorAll('input, textarea, select')).filter((el) => (el as HTMLInputElement).labels?.length === 0).map((el) => el.outerHTML),
    );
    expect(unlabelled).toEqual([]);

    // The overview: totals across both nodes, once each node has flushed (each on its own second).
    await waitText(card('Accepted'), /^4$/);
    await waitText(card('Answered'), /^1$/);
    await waitText(card('Failed'), /^2 \(AGENT_TIMEOUT 1, EVENT_EXPIRED 1\)$/);
    expect(await card('Connections').textContent()).toBe('3');

    // The charts: their text alternative says what they draw, and the canvas has the lines.
    expect(await page.locator('#chart-events').getAttribute('aria-label')).toBe(
      'Events per minute over the last 60 minutes: 4 accepted, 1 answered, 2 failed (AGENT_TIMEOUT 1, EVENT_EXPIRED 1).',
    );
    expect(await page.locator('#chart-tokens').getAttribute('aria-label')).toMatch(/^Tokens per second over the last 60 minutes: [\d.]+ now, [\d.]*[1-9][\d.]* at most\.$/);
    expect(await pixelsOf(page, '#chart-events', '#0b5cad')).toBeGreaterThan(10); // accepted
    // Equal series overlap: the last drawn, EVENT_EXPIRED (the second failure colour), is on top.
    expect(await pixelsOf(page, '#chart-events', '#b35900')).toBeGreaterThan(10);
    expect(await pixelsOf(page, '#chart-tokens', '#6639ba')).toBeGreaterThan(10);
    const legend = (await page.locator('#chart-events .u-legend').textContent()) ?? '';
    for (const series of ['Accepted', 'Answered', 'Failed AGENT_TIMEOUT', 'Failed EVENT_EXPIRED']) expect(legend).toContain(series);

    // Per agent: counts, latency percentiles and queue depth; connections per app, agent and node.
    const athenaRow = page.locator('#overview-agents tr', { has: page.locator('th', { hasText: 'athena' }) });
    const athenaCells = await athenaRow.locator('td').allTextContents();
    expect(athenaCells[0]).toBe('2 / 1 / 1');
    expect(athenaCells[1]).toMatch(/^\d+(\.\d)? m?s \/ \d+(\.\d)? m?s$/);
    expect(athenaCells[2]).toMatch(/^\d+(\.\d)? m?s \/ \d+(\.\d)? m?s$/);
    expect(athenaCells[3]).toBe(' 0 waiting, 0 in flight');
    const klyveCells = await page.locator('#overview-agents tr', { has: page.locator('th', { hasText: 'klyve' }) }).locator('td').allTextContents();
    expect(klyveCells.slice(0, 4)).toEqual(['2 / 0 / 1', '—', '—', ' 1 waiting, 0 in flight']);
    expect(await page.getByRole('meter', { name: '1 of 10000 waiting' }).count()).toBe(1);
    const byNode = page.getByRole('table', { name: 'By node' });
    expect(await byNode.locator('tbody tr').count()).toBe(2);
    expect(await page.getByRole('table', { name: 'By app' }).locator('tbody').textContent()).toBe('flow1portal1');

    // Recent events: newest first, never the payload. (Each node writes its rows on its own second.)
    const recentRows = page.locator('#recent-list tbody tr');
    await waitText(page.locator('#recent-list'), '4 matching events.');
    await until('every ended event has its outcome', async () => (await recentRows.locator('td:nth-child(7)').allTextContents()).join() === '—,EVENT_EXPIRED,AGENT_TIMEOUT,reply_stop');
    expect(await recentRows.locator('td:first-child').allTextContents()).toEqual([traffic.waiting, traffic.expired, traffic.timedOut, traffic.answered]);
    expect(await page.content()).not.toContain(PAYLOAD_MARKER);
    const answeredCells = await recentRows.nth(3).locator('td').allTextContents();
    expect(answeredCells.slice(2, 8)).toEqual(['portal', 'athena', 'portal:t:1', 'finished', 'reply_stop', '1']);
    expect(answeredCells[8]).toMatch(/^\d+ ms \/ \d+ ms \/ \d+ ms$/);
    expect((await recentRows.nth(0).locator('td').allTextContents()).slice(5, 8)).toEqual(['waiting', '—', '0']);

    // Filters, from the keyboard: failed ones; then flow's.
    await page.getByLabel('Outcome').focus();
    await page.getByLabel('Outcome').selectOption('failed');
    await waitText(page.locator('#recent-list'), '2 matching events.');
    expect(await recentRows.locator('td:first-child').allTextContents()).toEqual([traffic.expired, traffic.timedOut]);
    await page.getByLabel('App', { exact: true }).selectOption('flow');
    await waitText(page.locator('#recent-list'), '1 matching event.');
    expect(await recentRows.locator('td').nth(6).textContent()).toBe('AGENT_TIMEOUT');
    await page.getByLabel('Accepted', { exact: true }).selectOption('5');
    await waitText(page.locator('#recent-list'), '1 matching event.');
    await page.getByLabel('App', { exact: true }).selectOption('');
    await page.getByLabel('Outcome').selectOption('');
    await waitText(page.locator('#recent-list'), '4 matching events.');

    // Click through to the timeline with the keyboard: the button takes Enter.
    await page.getByRole('button', { name: `Timeline of ${traffic.answered}` }).focus();
    await page.keyboard.press('Enter');
    const timeline = page.getByRole('table', { name: `Timeline of ${traffic.answered}` });
    await timeline.waitFor();
    for (const step of ['Accepted', 'Delivered', 'First token', 'Final frame']) await timeline.getByRole('rowheader', { name: step }).waitFor();
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('events-heading');

    // Per agent: its socket, its failures, its latency over the hour.
    await page.getByRole('button', { name: 'Activity of athena' }).click();
    await page.getByRole('heading', { name: 'Activity of agent athena' }).waitFor();
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('agent-activity-heading');
    const sockets = page.getByRole('table', { name: 'Socket connections of athena' });
    expect(await sockets.locator('tbody tr').count()).toBe(1);
    expect(await page.getByText('No HTTP connections.').count()).toBe(1);
    const failures = page.getByRole('table', { name: 'Recent failures of athena' });
    expect(await failures.locator('tbody td:first-child').allTextContents()).toEqual([traffic.timedOut]);
    expect(await page.locator('#chart-agent-latency').getAttribute('aria-label')).toMatch(/^Latency of athena over the last hour: first token p50 \d+ ms, p95 \d+ ms; reply p50 \d+ ms, p95 \d+ ms\.$/);
    // One minute of traffic is one point per series, and equal percentiles overlap: any of them.
    let latencyPixels = 0;
    for (const color of ['#0b5cad', '#b35900', '#1a7f37', '#b42318']) latencyPixels += await pixelsOf(page, '#chart-agent-latency', color);
    expect(latencyPixels).toBeGreaterThan(0);
    expect(await page.locator('#agent-activity').textContent()).toContain('Failed');

    expect(await page.getByText('No event waiting or in flight among the recent events.').count()).toBe(1);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-live.png'), fullPage: true });

    // Another agent's: the event waiting for it, which opens its timeline.
    await page.getByRole('button', { name: 'Activity of klyve' }).click();
    await page.getByRole('heading', { name: 'Activity of agent klyve' }).waitFor();
    const open = page.getByRole('table', { name: 'Open events of klyve' });
    await open.waitFor();
    expect((await open.locator('tbody td').allTextContents()).slice(0, 1)).toEqual([traffic.waiting]);
    expect(await page.getByText('No WebSocket connections: the agent is offline.').count()).toBe(1);
    await open.getByRole('button', { name: `Timeline of ${traffic.waiting}` }).click();
    await page.getByRole('table', { name: `Timeline of ${traffic.waiting}` }).waitFor();

    // Live: more traffic shows without a reload, and a keyboard user keeps their place.
    await page.getByRole('button', { name: 'Activity of athena' }).focus();
    const more = await send(traffic.portal, eventFrame({ thread_id: 'portal:t:5' }));
    await traffic.athena.nextOf('event', more.event_id);
    traffic.athena.send({ type: 'token', event_id: more.event_id, token: 'x' });
    traffic.athena.send({ type: 'reply', event_id: more.event_id, content: 'x', finish_reason: 'stop' });
    await traffic.portal.nextOf('reply', more.event_id);
    await waitText(card('Accepted'), /^5$/);
    await waitText(card('Answered'), /^2$/);
    await waitText(page.locator('#overview-agents tr', { has: page.locator('th', { hasText: 'athena' }) }).locator('td').first(), '3 / 2 / 1');
    expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
    expect(await page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.focusKey)).toBe('agent-athena');

    // A phone: nothing wider than the screen but the tables, which scroll in their own box.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(300);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    const chartWidth = await page.locator('#chart-events canvas').evaluate((c) => c.getBoundingClientRect().width);
    expect(chartWidth).toBeLessThanOrEqual(390);
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-live-phone.png'), fullPage: true });
    await page.locator('#overview-heading').scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-live-phone-overview.png') });

    expect(pageErrors).toEqual([]);
  }, 90_000);
});

describe('the live Dashboard on the memory backend (one node, no Redis)', () => {
  let relay: RelayProcess;
  let browser: Browser;
  const { registry, tokens } = testRegistry();
  const clients: TestClient[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    relay = await startRelay({ registry, env: ACTIVITY_ENV });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
  }, 60_000);
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await browser?.close();
    if (relay) expect(await relay.stop()).toBe(0);
  });

  test('the same overview and list, from the node itself', async () => {
    const traffic = await drive(relay, relay, tokens, clients);
    const page = await browser.newPage({ viewport: { width: 1024, height: 800 } });
    page.on('pageerror', (err) => pageErrors.push(err.message));
    // The deleted agent's 404 below is expected: the browser logs it, the page handles it.
    page.on('console', (msg) => {
      if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) pageErrors.push(msg.text());
    });
    page.on('response', (response) => {
      if (response.status() >= 400 && !response.url().endsWith('/v1/admin/activity/agents/hermes')) pageErrors.push(`${response.status()}: ${response.url()}`);
    });
    await page.goto(`${relay.httpUrl}/dashboard/`);
    await page.getByLabel('Admin token').fill(ADMIN_TOKEN);
    await page.getByLabel('Admin token').press('Enter');
    const accepted = page.locator('#overview-totals .card', { has: page.locator('dt', { hasText: /^Accepted$/ }) }).locator('dd');
    await accepted.filter({ hasText: /^4$/ }).waitFor({ timeout: 20_000 });
    expect(await page.locator('#chart-events').getAttribute('aria-label')).toBe(
      'Events per minute over the last 60 minutes: 4 accepted, 1 answered, 2 failed (AGENT_TIMEOUT 1, EVENT_EXPIRED 1).',
    );
    await page.locator('#recent-list').filter({ hasText: '4 matching events.' }).waitFor({ timeout: 20_000 });
    expect(await page.locator('#recent-list tbody tr td:first-child').allTextContents()).toEqual([traffic.waiting, traffic.expired, traffic.timedOut, traffic.answered]);
    expect(await page.getByRole('table', { name: 'By node' }).locator('tbody tr').count()).toBe(1);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-live-memory.png'), fullPage: true });

    // An agent deleted while its activity is open: the panel closes, the rest keeps refreshing.
    const api = adminApi(relay.httpUrl);
    expect((await api('POST', '/v1/admin/agents', { id: 'hermes', allow_apps: ['portal'] })).status).toBe(201);
    await page.getByRole('button', { name: 'Activity of hermes' }).click({ timeout: 20_000 });
    await page.getByRole('heading', { name: 'Activity of agent hermes' }).waitFor();
    expect((await api('DELETE', '/v1/admin/agents/hermes')).status).toBe(200);
    await page.locator('#agent-activity').waitFor({ state: 'hidden', timeout: 20_000 });
    await page.getByRole('button', { name: 'Activity of hermes' }).waitFor({ state: 'detached', timeout: 20_000 });
    expect(await page.locator('#alert').isHidden()).toBe(true);
    expect(pageErrors).toEqual([]);
  }, 60_000);
});
