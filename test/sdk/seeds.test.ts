/**
 * The seed scenarios rewritten on the SDK (./seeds): seed 000's app and agent, seed 001's
 * discover + send. They run as processes against a real gateway and print what the seeds print,
 * and they are at most a third of the seeds' own code (non-blank lines of test/seeds/clients).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { backendsUnderTest } from '../support/backends';
import { useRelay } from '../support/relay-fixture';
import { Child, CLIENTS, killChildren } from '../seeds/child-process';

const REWRITES = path.join(__dirname, 'seeds');
const SEED000_APP = path.join(REWRITES, 'seed000-app.js');
const SEED000_AGENT = path.join(REWRITES, 'seed000-agent.js');
const SEED001_APP = path.join(REWRITES, 'seed001-app.js');

/** What seed 000's agent answers: it counts the payload's comments. */
const answer = (comments: number) => `This discussion covers the main topics: ${comments} comments discussing priorities.`;
const lines = (file: string) => readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '').length;

test('each rewrite is at most a third of the seed code it replaces, and all of them a third of all of it', () => {
  const seed = Object.fromEntries(readdirSync(CLIENTS).map((f) => [f, lines(path.join(CLIENTS, f))]));
  expect(Object.keys(seed).sort()).toEqual(['seed-agent.js', 'seed001-app.js', 'seed001_app.py', 'seed_app.py']);
  const seed000 = (seed['seed_app.py'] as number) + (seed['seed-agent.js'] as number);
  const seed001 = Math.min(seed['seed001-app.js'] as number, seed['seed001_app.py'] as number);
  const total = Object.values(seed).reduce((a, b) => a + b, 0);
  const rewrites = readdirSync(REWRITES).map((f) => path.join(REWRITES, f));
  expect(lines(SEED000_APP) + lines(SEED000_AGENT)).toBeLessThanOrEqual(seed000 / 3);
  expect(lines(SEED000_APP)).toBeLessThanOrEqual((seed['seed_app.py'] as number) / 3);
  expect(lines(SEED000_AGENT)).toBeLessThanOrEqual((seed['seed-agent.js'] as number) / 3);
  expect(lines(SEED001_APP)).toBeLessThanOrEqual(seed001 / 3);
  expect(rewrites.reduce((sum, f) => sum + lines(f), 0)).toBeLessThanOrEqual(total / 3);
});

describe.each(backendsUnderTest())('seed scenarios on the SDK ($name backend)', (backend) => {
  const suite = useRelay(backend);
  afterEach(killChildren);

  // The seeds' own URL form: the full endpoint (…/v1/ws/agent), which the SDK takes as it is.
  const startAgent = async () => {
    const agent = Child.node('seed000-agent.js', SEED000_AGENT, { RELAY_URL: `${suite.relay.url}/v1/ws/agent`, RELAY_TOKEN: suite.tokens.athena, SEED_TOKEN_INTERVAL_MS: '5' });
    await agent.waitFor('Agent connected to Relay');
    return agent;
  };

  test('seed 000: the app gets accepted, every token in order and the reply from the agent', async () => {
    const agent = await startAgent();
    const app = Child.node('seed000-app.js', SEED000_APP, { RELAY_URL: `${suite.relay.url}/v1/ws/app`, RELAY_TOKEN: suite.tokens.portal });
    const exit = await app.exit(20_000);
    expect({ exit, stderr: app.stderr }).toEqual({ exit: { code: 0, signal: null }, stderr: '' });
    const out = app.stdout;
    const eventId = /\n Event ID: (evt_\S+)\n/.exec(out)?.[1];
    expect(eventId).toMatch(/^evt_/);
    expect(out).toContain(' Session: relay:athena:portal:task-123\n');
    const text = answer(2);
    const pieces = (/\n\n(← [\s\S]*)\n\n✓ Reply complete/.exec(out)?.[1] ?? '').split('← ').slice(1);
    expect(pieces).toEqual([...text].map((_, i) => text.slice(0, i + 1))); // one character per token, in order
    expect(out).toContain(` Content: ${text.slice(0, 100)}...\n Finish reason: stop\n`);
    await agent.waitFor(`→ Reply sent (${text.length} chars)`);
    expect(agent.stdout).toContain(`← Event received: ${eventId}\n  Task: Q2 Roadmap Review\n`);
  }, 30_000);

  test('seed 000: sent while the agent is offline, the event is answered once the agent connects', async () => {
    const app = Child.node('seed000-app.js', SEED000_APP, { RELAY_URL: suite.relay.url, RELAY_TOKEN: suite.tokens.portal });
    await app.waitFor(/ Event ID: evt_\S+\n/);
    await startAgent();
    expect(await app.exit(20_000)).toEqual({ code: 0, signal: null });
    expect(app.stdout).toContain(`← ${answer(2)}\n\n✓ Reply complete`);
  }, 30_000);

  test('seed 001: discover, send, the streamed tokens, then reply, tokens_used and latency_ms', async () => {
    const agent = await startAgent();
    const app = Child.node('seed001-app.js', SEED001_APP, { RELAY_URL: `${suite.relay.url}/v1/ws/app`, RELAY_TOKEN: suite.tokens.portal });
    const exit = await app.exit(20_000);
    expect({ exit, stderr: app.stderr }).toEqual({ exit: { code: 0, signal: null }, stderr: '' });
    const out = app.stdout;
    const text = answer(0);
    expect(out).toMatch(/^Connected to Relay\nDiscovered 2 agents\nAvailable agents: (Athena, Klyve|Klyve, Athena)\nSent event to athena\n/);
    const eventId = /\nEvent (evt_\S+) sent\n/.exec(out)?.[1];
    expect(out).toContain(`\n${text}\nReply complete!\nFull text: ${text}\nTokens: ${text.length}\nLatency: `);
    await agent.waitFor(`← Event received: ${eventId}\n`);
  }, 30_000);

  test('seed 001: a refused token ends the rewrite with the typed error, exit 1', async () => {
    const app = Child.node('seed001-app.js', SEED001_APP, { RELAY_URL: suite.relay.url, RELAY_TOKEN: 'rlk_portal_not-a-real-token' });
    expect(await app.exit()).toEqual({ code: 1, signal: null });
    expect(app.stderr).toMatch(/^Error: the relay refused the token \(HTTP 401\) \(UNAUTHORIZED\)$/m);
  });
});
