/**
 * The user's own client code (seeds 000 and 001) against a real relay process. The clients live
 * in ./clients, each as close to its seed as it can be; every change is marked in the file.
 */
import path from 'node:path';
import { backendsUnderTest } from '../support/backends';
import { startRelay, type RelayProcess } from '../support/relay-process';
import { testRegistry } from '../support/registry';
import { Child, CLIENTS, killChildren, requirePythonWebsockets } from './child-process';

const SEED_AGENT = path.join(CLIENTS, 'seed-agent.js');
const SEED_APP_PY = path.join(CLIENTS, 'seed_app.py');
const SEED001_APP_JS = path.join(CLIENTS, 'seed001-app.js');
const SEED001_APP_PY = path.join(CLIENTS, 'seed001_app.py');

/** What seed 000's agent answers: it counts the payload's comments. */
const answer = (comments: number) => `This discussion covers the main topics: ${comments} comments discussing priorities.`;

describe.each(backendsUnderTest())('seed clients against a relay process ($name backend)', (backend) => {
  let relay: RelayProcess;
  const { registry, tokens } = testRegistry();
  let appUrl: string;
  let agentUrl: string;

  beforeAll(async () => {
    requirePythonWebsockets();
    relay = await startRelay({ registry, env: await backend.env() });
    appUrl = `${relay.url}/v1/ws/app`;
    agentUrl = `${relay.url}/v1/ws/agent`;
  });
  afterEach(async () => {
    await killChildren();
  });
  afterAll(async () => {
    await killChildren();
    if (relay) expect(await relay.stop()).toBe(0);
    await backend.teardown();
  });

  /** Seed 000's Node agent, connected (it offers the relay-agent subprotocol, so this also checks the echo). */
  async function startSeedAgent(): Promise<Child> {
    const agent = Child.node('seed-agent.js', SEED_AGENT, {
      RELAY_URL: agentUrl,
      RELAY_TOKEN: tokens.athena,
      SEED_TOKEN_INTERVAL_MS: '5',
    });
    await agent.waitFor('Agent connected to Relay');
    return agent;
  }

  /**
   * Seed 000's app prints the whole buffer after every token, each time after "← ". The pieces
   * must be the answer's prefixes, one character longer each time: every token, in order.
   */
  function expectStreamedOneCharAtATime(stdout: string, text: string): void {
    const streamed = /\n\n(← [\s\S]*)\n\n✓ Reply complete/.exec(stdout);
    expect(streamed).not.toBeNull();
    const pieces = (streamed as RegExpExecArray)[1]!.split('← ').slice(1);
    expect(pieces[pieces.length - 1]).toBe(text);
    expect(pieces).toEqual([...text].map((_, i) => text.slice(0, i + 1)));
  }

  test('seed 000: the Python app (websockets, relay-app subprotocol) gets accepted, streamed tokens and the reply from the Node agent', async () => {
    const agent = await startSeedAgent();
    const app = Child.python('seed_app.py', SEED_APP_PY, { RELAY_URL: appUrl, RELAY_TOKEN: tokens.portal });
    const exit = await app.exit(20_000);
    expect({ exit, stderr: app.stderr }).toEqual({ exit: { code: 0, signal: null }, stderr: '' });

    const out = app.stdout;
    expect(out).toContain('Connected to Relay\n');
    expect(out).toContain('✓ Event accepted');
    const eventId = /\n Event ID: (evt_\S+)\n/.exec(out)?.[1];
    expect(eventId).toMatch(/^evt_[0-9A-Za-z]+$/);
    expect(out).toContain(' Session: relay:athena:portal:task-123\n');

    const text = answer(2);
    expectStreamedOneCharAtATime(out, text);
    expect(out).toContain('\n\n✓ Reply complete\n');
    expect(out).toContain(` Content: ${text.slice(0, 100)}...\n`);
    expect(out).toContain(' Finish reason: stop\n');

    // The agent got the same event, with the app's payload untouched.
    await agent.waitFor(`→ Reply sent (${text.length} chars)`);
    expect(agent.stdout).toContain(`← Event received: ${eventId}\n`);
    expect(agent.stdout).toContain('  Task: Q2 Roadmap Review\n');
    expect(agent.stderr).toBe('');
    expect(agent.running).toBe(true);
  }, 30_000);

  test('seed 000: an event sent while the agent is offline is queued, then streamed once the agent connects', async () => {
    const app = Child.python('seed_app.py', SEED_APP_PY, { RELAY_URL: appUrl, RELAY_TOKEN: tokens.portal });
    const [, eventId] = await app.waitFor(/ Event ID: (evt_\S+)\n/, 10_000);
    await app.waitFor(' Session: relay:athena:portal:task-123');
    expect(app.stdout).not.toContain('←');

    const agent = await startSeedAgent();
    const exit = await app.exit(20_000);
    expect({ exit, stderr: app.stderr }).toEqual({ exit: { code: 0, signal: null }, stderr: '' });
    expectStreamedOneCharAtATime(app.stdout, answer(2));
    expect(app.stdout).toContain(' Finish reason: stop\n');
    await agent.waitFor(`← Event received: ${eventId}\n`);
  }, 30_000);

  test('seed 001: the Node RelayClient (no subprotocol) discovers agents and gets the reply with reply, tokens_used and latency_ms', async () => {
    const agent = await startSeedAgent();
    const app = Child.node('seed001-app.js', SEED001_APP_JS, { RELAY_URL: appUrl, RELAY_TOKEN: tokens.portal });
    const exit = await app.exit(20_000);
    expect({ exit, stderr: app.stderr }).toEqual({ exit: { code: 0, signal: null }, stderr: '' });

    const out = app.stdout;
    const text = answer(0); // seed 001's payload has no comments
    expect(out).toContain('Connected to Relay\n');
    // portal is allowlisted for athena and klyve (test registry)
    expect(out).toContain('Discovered 2 agents\n');
    expect(out).toMatch(/\nAvailable agents: (Athena, Klyve|Klyve, Athena)\n/);
    expect(out).toContain('Sent event to athena\n');
    const eventId = /\nEvent (evt_\S+) sent\n/.exec(out)?.[1];
    expect(eventId).toMatch(/^evt_[0-9A-Za-z]+$/);
    // the tokens, written one after another, then the reply's `reply` field and metadata
    expect(out).toContain(`\n${text}\nReply complete!\n`);
    expect(out).toContain(`\nFull text: ${text}\n`);
    expect(out).toContain(`\nTokens: ${text.length}\n`); // relay counts the token frames: the agent gave no figure
    const latency = Number(/\nLatency: (\d+)ms\n/.exec(out)?.[1]);
    expect(latency).toBeGreaterThanOrEqual(0);
    expect(latency).toBeLessThan(15_000);

    await agent.waitFor(`← Event received: ${eventId}\n`);
    expect(agent.stdout).toContain('  Task: Q2 Roadmap Review\n');
  }, 30_000);

  test("seed 001: the Python RelayClient discover_agents / send_event / receive_messages reads data['reply'] and data['metadata']", async () => {
    const agent = await startSeedAgent();
    const app = Child.python('seed001_app.py', SEED001_APP_PY, { RELAY_URL: appUrl, RELAY_TOKEN: tokens.portal });
    const exit = await app.exit(20_000);
    expect({ exit, stderr: app.stderr }).toEqual({ exit: { code: 0, signal: null }, stderr: '' });

    const out = app.stdout;
    const text = answer(0);
    expect(out).toContain('Connected to Relay\n');
    expect(out).toContain('Discovered 2 agents\n');
    expect(out).toContain('Sent event to athena for task-123\n');
    expect(out).not.toContain('Event rejected');
    expect(out).not.toContain('Receive loop error');
    expect(out).toContain(`task-123\n${text}\n\nReply complete!\n`);
    expect(out).toContain(`\nFull text: ${text}\n`);
    expect(out).toContain(`\nTokens: ${text.length}\n`);
    expect(out).toMatch(/\nLatency: \d+ms\n/);
    expect(out).not.toContain('No reply within 10s');

    await agent.waitFor(/← Event received: evt_\S+\n {2}Task: Q2 Roadmap Review/);
  }, 30_000);
});
