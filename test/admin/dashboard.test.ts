/**
 * The Dashboard as a person uses it: Debian's headless chromium, driven by playwright-core,
 * against a real gateway process. Signs in (a wrong token first), creates an agent, issues it a
 * token that a real agent socket then uses, revokes it (the socket is closed with 1008), and
 * looks up an event's timeline. The final page is kept as test-artifacts/dashboard.png.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ADMIN_TOKEN } from '../support/admin';
import { TestClient, UpgradeRefused, eventFrame } from '../support/client';
import { send, waitFor } from '../support/lifecycle';
import { startRedis, type RedisUnderTest } from '../support/redis-server';
import { startRelay, type RelayProcess } from '../support/relay-process';
import { testRegistry } from '../support/registry';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.resolve(__dirname, '../../test-artifacts');

describe('the Dashboard in a real browser', () => {
  let redis: RedisUnderTest;
  let relay: RelayProcess;
  let browser: Browser;
  let page: Page;
  const { registry, tokens } = testRegistry();
  const clients: TestClient[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`);
    redis = await startRedis();
    relay = await startRelay({
      registry,
      env: { REDIS_URL: redis.url, RELAY_REDIS_PREFIX: redis.prefix, RELAY_ADMIN_TOKEN: ADMIN_TOKEN, RELAY_REGISTRY_MODE: 'admin' },
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('pageerror', (err) => pageErrors.push(err.message));
    // The API's own refusals (401, 400, 404) are logged by the browser as failed loads: expected.
    page.on('console', (msg) => {
      if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) pageErrors.push(msg.text());
    });
    page.on('requestfailed', (request) => pageErrors.push(`request failed: ${request.url()}`));
    page.on('response', (response) => {
      if (response.status() === 404 && !response.url().includes('/v1/admin/events/')) pageErrors.push(`404: ${response.url()}`);
    });
    // Revoking asks for confirmation; the person says yes.
    page.on('dialog', (dialog) => void dialog.accept());
  }, 60_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await browser?.close();
    if (relay) expect(await relay.stop()).toBe(0);
    await redis?.stop();
  });

  const status = () => page.locator('#status');

  test('sign in, create an agent, issue and revoke a token, look up an event', async () => {
    await page.goto(`${relay.httpUrl}/dashboard`);
    expect(page.url()).toBe(`${relay.httpUrl}/dashboard/`);
    expect(await page.title()).toBe('Relay Dashboard');

    // Every form control has a label a screen reader can announce.
    const unlabelled = await page.evaluate(() =>
      Array.from(document.querySelectorAll('input, textarea, select')).filter((el) => (el as HTMLInputElement).labels?.length === 0).map((el) => el.outerHTML),
    );
    expect(unlabelled).toEqual([]);

    // A wrong token: a clear message, the field marked, and still signed out.
    await page.getByLabel('Admin token').fill('not-the-admin-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('That admin token was refused').waitFor();
    expect(await page.getByLabel('Admin token').getAttribute('aria-invalid')).toBe('true');
    expect(await page.locator('#app').isHidden()).toBe(true);

    // The right one, from the keyboard: type it and press Enter.
    await page.getByLabel('Admin token').fill(ADMIN_TOKEN);
    await page.getByLabel('Admin token').press('Enter');
    await page.getByRole('heading', { name: 'Apps' }).waitFor();
    await page.getByRole('row', { name: /portal/ }).first().waitFor();
    expect(await page.evaluate(() => [sessionStorage.length, localStorage.length, document.cookie])).toEqual([1, 0, '']);

    // A bad agent id: the API's message, and the field marked.
    await page.getByLabel('Agent id').fill('Not Valid');
    await page.getByRole('button', { name: 'Create agent' }).click();
    await page.getByRole('alert').filter({ hasText: 'Could not create the agent' }).waitFor();
    expect(await page.getByLabel('Agent id').getAttribute('aria-invalid')).toBe('true');

    // Create an agent allowlisting portal.
    await page.getByLabel('Agent id').fill('zeus');
    await page.getByLabel('Name', { exact: true }).nth(1).fill('Zeus');
    await page.getByLabel('Allowed apps').fill('portal');
    await page.getByRole('button', { name: 'Create agent' }).click();
    await status().filter({ hasText: 'Agent zeus created' }).waitFor();
    const row = page.getByRole('table', { name: 'Agents', exact: true }).getByRole('row', { name: /zeus/ });
    await row.waitFor();
    expect(await row.textContent()).toContain('offline');

    // Issue it a token: shown once, with a copy button that has the focus.
    await page.getByRole('button', { name: 'Manage agent zeus' }).click();
    await page.getByRole('heading', { name: 'Agent zeus' }).waitFor();
    await page.getByRole('button', { name: 'Issue token' }).click();
    const secret = (await page.locator('#secret-value').textContent()) ?? '';
    expect(secret).toMatch(/^rla_zeus_[A-Za-z0-9]{32}$/);
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Copy token');

    // The token works: an agent connects with it and answers an event from portal.
    const agent = await TestClient.connect(relay.url, 'agent', secret);
    clients.push(agent);
    const app = await TestClient.connect(relay.url, 'app', tokens.portal);
    clients.push(app);
    const accepted = await send(app, eventFrame({ agent_id: 'zeus' }));
    expect(accepted.type).toBe('accepted');
    await agent.nextOf('event', accepted.event_id);
    agent.send({ type: 'token', event_id: accepted.event_id, token: 'Hi' });
    agent.send({ type: 'reply', event_id: accepted.event_id, content: 'Hi', finish_reason: 'stop' });
    await app.nextOf('reply', accepted.event_id);

    // Revoke it: the agent's socket is closed with 1008 and the token no longer opens one.
    const tokenId = (await page.locator('#manage tbody th code').first().textContent()) ?? '';
    await page.getByRole('button', { name: `Revoke token ${tokenId}` }).click();
    await status().filter({ hasText: `Token ${tokenId} revoked` }).waitFor();
    expect((await agent.closed).code).toBe(1008);
    const refused = await TestClient.connect(relay.url, 'agent', secret).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(UpgradeRefused);
    expect(await page.getByText('No tokens: nothing can connect as it.').count()).toBe(1);

    // Look the event up: its timeline, step by step.
    await page.getByRole('button', { name: 'Close' }).click();
    await page.getByLabel('Event id').fill(accepted.event_id);
    await page.getByRole('button', { name: 'Look up' }).click();
    const timeline = page.getByRole('table', { name: `Timeline of ${accepted.event_id}` });
    await timeline.waitFor();
    for (const step of ['Accepted', 'Delivered', 'First token', 'Final frame']) {
      await timeline.getByRole('rowheader', { name: step }).waitFor();
    }
    expect(await page.locator('.timeline dl').textContent()).toContain('finished (reply)');

    // An unknown event: said plainly.
    await page.getByLabel('Event id').fill('evt_doesnotexist');
    await page.getByRole('button', { name: 'Look up' }).click();
    await page.getByRole('alert').filter({ hasText: 'No event "evt_doesnotexist"' }).waitFor();
    await page.getByLabel('Event id').fill(accepted.event_id);
    await page.getByRole('button', { name: 'Look up' }).click();
    await timeline.waitFor();

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard.png'), fullPage: true });
    expect(pageErrors).toEqual([]);

    // Signing out forgets the token.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Admin token').waitFor();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
  }, 60_000);

  test("an app's webhook: set its URL, create the secret (shown once), see deliveries and failures, rotate; an agent with a webhook shows as http", async () => {
    const receiver: WebhookReceiver = await startWebhookReceiver('whsec_' + Buffer.alloc(32).toString('base64'));
    try {
      await page.goto(`${relay.httpUrl}/dashboard/`);
      await page.getByLabel('Admin token').fill(ADMIN_TOKEN);
      await page.getByLabel('Admin token').press('Enter');
      await page.getByRole('button', { name: 'Manage app flow' }).click();
      await page.getByRole('heading', { name: 'App flow' }).waitFor();
      await page.getByText('No signing secret: tries fail until one is made.').waitFor();

      await page.getByLabel('Webhook URL').fill('ftp://nowhere');
      await page.getByRole('button', { name: 'Save webhook URL' }).click();
      await page.getByRole('alert').filter({ hasText: 'Could not save the webhook of flow' }).waitFor();
      expect(await page.getByLabel('Webhook URL').getAttribute('aria-invalid')).toBe('true');
      await page.getByLabel('Webhook URL').fill(`${receiver.url}/flow`);
      await page.getByRole('button', { name: 'Save webhook URL' }).click();
      await status().filter({ hasText: 'Webhook of app flow set' }).waitFor();

      await page.getByRole('button', { name: 'Create webhook secret' }).click();
      const first = (await page.locator('#webhook-secret-value').textContent()) ?? '';
      expect(first).toMatch(/^whsec_/);
      expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Copy secret');
      receiver.useSecret(first);

      // A final of flow's: the receiver fails the first try on purpose, takes the second.
      receiver.next({ status: 500 });
      const agent = await TestClient.connect(relay.url, 'agent', tokens.athena);
      clients.push(agent);
      const app = await TestClient.connect(relay.url, 'app', tokens.flow);
      clients.push(app);
      const accepted = await send(app, eventFrame({ thread_id: 'flow:hooked:1' }));
      await agent.nextOf('event', accepted.event_id);
      agent.send({ type: 'reply', event_id: accepted.event_id, content: 'Hooked', finish_reason: 'stop' });
      await waitFor('two tries', () => receiver.received.length === 2, 10_000);
      expect(receiver.received.map((w) => w.ok)).toEqual([true, true]);

      await page.getByRole('button', { name: 'Manage app flow' }).click();
      const tries = page.getByRole('table', { name: 'Latest webhook tries' });
      await tries.waitFor();
      expect(await tries.getByRole('row').count()).toBe(3); // the header and two tries
      expect(await tries.textContent()).toContain('delivered');
      expect(await tries.textContent()).toContain('failed, tried again');
      await page.getByText('Latest tries (2; 1 failed)').waitFor();
      await page.getByText('A signing secret is set').waitFor();
      expect(await page.locator('#webhook-secret-value').count()).toBe(0); // never shown again

      await page.getByRole('button', { name: 'Rotate webhook secret' }).click();
      await status().filter({ hasText: 'New webhook secret for app flow' }).waitFor();
      const second = (await page.locator('#webhook-secret-value').textContent()) ?? '';
      expect(second).toMatch(/^whsec_/);
      expect(second).not.toBe(first);

      // An agent with a webhook and no socket is served over HTTP: shown as such.
      await page.getByRole('button', { name: 'Close' }).click();
      await page.getByRole('button', { name: 'Manage agent klyve' }).click();
      await page.getByRole('heading', { name: 'Agent klyve' }).waitFor();
      await page.getByLabel('Webhook URL').fill(`${receiver.url}/klyve`);
      await page.getByRole('button', { name: 'Save webhook URL' }).click();
      await status().filter({ hasText: 'Webhook of agent klyve set' }).waitFor();
      const klyve = page.getByRole('table', { name: 'Agents', exact: true }).getByRole('row', { name: /klyve/ });
      await klyve.getByText('http', { exact: true }).waitFor();

      await page.getByRole('button', { name: 'Manage app flow' }).click();
      await tries.waitFor();
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-webhooks.png'), fullPage: true });
      expect(pageErrors).toEqual([]);
    } finally {
      await receiver.close();
    }
  }, 60_000);
});
