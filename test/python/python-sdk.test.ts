/**
 * The Python SDK's pytest suite (packages/sdk-python/tests), run by `npm test` so the README's
 * one command runs everything. pytest starts its own gateway processes, redis-server and
 * balancer (tests/relay_harness.py) from the built gateway, which `npm test` builds first.
 * Any exit but 0 fails, with pytest's output: 1 (a test failed), 5 (no tests collected), or a
 * missing python3-pytest / python3-websockets (.ci/run installs both).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { stopProcess } from '../support/stop-process';

const ROOT = path.resolve(__dirname, '../..');
const PYTHON = '/usr/bin/python3';
const TIMEOUT_MS = 600_000;

let child: ChildProcess | undefined;

// SIGINT, not SIGTERM: pytest then runs its fixtures' teardown, which stops the relays it started.
afterAll(async () => {
  if (child) await stopProcess(child, 'SIGINT');
});

test(
  'pytest packages/sdk-python/tests passes',
  async () => {
    const args = ['-m', 'pytest', 'packages/sdk-python/tests', '-q', '-p', 'no:cacheprovider', '--color=no'];
    const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', LANG: 'C.UTF-8', PYTHONUNBUFFERED: '1' };
    if (process.env.RELAY_TEST_BACKENDS) env.RELAY_TEST_BACKENDS = process.env.RELAY_TEST_BACKENDS;
    const proc = spawn(PYTHON, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    let output = '';
    proc.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    proc.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | string>((resolve) => {
      proc.once('error', (err) => resolve(err.message));
      proc.once('exit', (exitCode, signal) => resolve(exitCode ?? signal ?? 'unknown'));
    });
    if (code !== 0) throw new Error(`pytest exited ${code}:\n${output}`);
    expect(output).toMatch(/\b\d+ passed\b/);
  },
  TIMEOUT_MS,
);
