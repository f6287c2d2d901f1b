import { TestClient, eventFrame } from '../support/client';
import { startRelay, type RelayProcess } from '../support/relay-process';

/** `npm start` with no RELAY_CONFIG and no REDIS_URL: what a new user sees first. */
describe('development mode', () => {
  let relay: RelayProcess;

  beforeAll(async () => {
    relay = await startRelay();
  });
  afterAll(async () => {
    expect(await relay.stop()).toBe(0);
  });

  test('prints working tokens for a development app and agent, and commands that use them', async () => {
    await relay.waitForOutput(/send-event\.js/);
    const appToken = /app\s+portal\s+token (rlk_portal_\w+)/.exec(relay.output())?.[1];
    const agentToken = /agent athena\s+token (rla_athena_\w+)/.exec(relay.output())?.[1];
    expect(appToken).toBeDefined();
    expect(agentToken).toBeDefined();
    expect(relay.output()).toContain(`RELAY_TOKEN=${agentToken} node examples/echo-agent.js`);
    expect(relay.output()).toContain(`RELAY_URL=ws://localhost:${relay.port}`);

    const agent = await TestClient.connect(relay.url, 'agent', agentToken as string);
    const app = await TestClient.connect(relay.url, 'app', appToken as string);
    app.send(eventFrame());
    const accepted = await app.nextOf('accepted');
    const event = await agent.nextOf('event', accepted.event_id);
    agent.send({ type: 'reply', event_id: event.event_id, content: 'hello', finish_reason: 'stop' });
    expect(await app.nextOf('reply', accepted.event_id)).toMatchObject({ content: 'hello' });
    await app.close();
    await agent.close();
  });

  test('the structured log never carries the development tokens', () => {
    const logLines = relay.output().split('\n').filter((line) => line.startsWith('{'));
    expect(logLines.length).toBeGreaterThan(0);
    for (const line of logLines) expect(line).not.toMatch(/rl[ka]_(portal|athena)_/);
  });
});
