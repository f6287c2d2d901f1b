import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startLoadBalancer } from './load-balancer';
import { stopProcess } from './stop-process';

const MAIN = path.resolve(__dirname, '../../packages/gateway/dist/main.js');

export interface StartOptions {
  /** Registry file contents (apps and agents); written to a temp file and passed as RELAY_CONFIG. */
  registry?: unknown;
  /** Extra environment for the node (timeouts, limits). */
  env?: Record<string, string>;
  /** Node id; defaults to a unique one. */
  nodeId?: string;
  /**
   * Wait for /readyz to answer 200 (the default). False resolves once the node listens: for
   * nodes that must not become ready yet, such as one whose Redis is unreachable.
   */
  waitReady?: boolean;
}

export interface RelayProcess {
  readonly port: number;
  readonly url: string;
  readonly httpUrl: string;
  readonly nodeId: string;
  readonly proc: ChildProcess;
  /** Every line the process wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves once the output matches (it is written asynchronously after start-up). */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Sends a signal and resolves with the exit code (or the signal name) once the process is gone. */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

let counter = 0;

/**
 * Starts a real gateway process on a free port and resolves once it listens. The backend is
 * the one under test (see backends.ts): its environment is merged in by the caller.
 */
export async function startRelay(options: StartOptions = {}): Promise<RelayProcess> {
  const nodes = Number(options.env?.[TEST_NODES] ?? '1');
  if (nodes > 1) return startBalancedCluster(options, nodes);
  const nodeId = options.nodeId ?? `test-node-${process.pid}-${++counter}`;
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    RELAY_NODE_ID: nodeId,
    ...options.env,
  };
  if (options.registry !== undefined) {
    const dir = mkdtempSync(path.join(tmpdir(), 'relay-test-'));
    const file = path.join(dir, 'registry.json');
    writeFileSync(file, JSON.stringify(options.registry));
    env.RELAY_CONFIG = file;
  }
  const proc = spawn(process.execPath, [MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise<number | string>((resolve) =>
    proc.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  // A node that does not come up is killed before the error is thrown, so no test leaves it running.
  const startUp = async (): Promise<number> => {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`relay did not start:\n${output}`)), 15_000);
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        const match = /"port":(\d+)[^\n]*relay listening/.exec(output);
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      };
      proc.stdout?.on('data', onData);
      proc.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`relay exited (${code}) before listening:\n${output}`));
      });
    });
    // Listening is not ready: a node on Redis first connects, seeds its registry and beats once.
    const deadline = Date.now() + 15_000;
    while (options.waitReady !== false) {
      const status = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status, () => 0);
      if (status === 200) break;
      if (Date.now() > deadline) throw new Error(`relay never became ready:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    return port;
  };
  const port = await startUp().catch((err: unknown) => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    throw err;
  });
  return {
    port,
    url: `ws://127.0.0.1:${port}`,
    httpUrl: `http://127.0.0.1:${port}`,
    nodeId,
    proc,
    output: () => output,
    async waitForOutput(pattern, timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(output)) {
        if (Date.now() > deadline) throw new Error(`output never matched ${pattern}:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return output;
    },
    stop: (signal = 'SIGTERM') => stopProcess(proc, signal),
  };
}

/**
 * With `RELAY_TEST_NODES` in its env, startRelay starts that many nodes (sharing the backend the
 * env names) behind a round-robin load balancer and returns them as one relay: each connection a
 * test opens may land on another node, so a suite written for one node runs on a cluster as is.
 */
export const TEST_NODES = 'RELAY_TEST_NODES';

async function startBalancedCluster(options: StartOptions, count: number): Promise<RelayProcess> {
  const env = { ...options.env };
  delete env[TEST_NODES];
  const nodes: RelayProcess[] = [];
  try {
    for (let i = 0; i < count; i++) nodes.push(await startRelay({ ...options, env, nodeId: undefined }));
  } catch (err) {
    await Promise.all(nodes.map((n) => n.stop('SIGKILL')));
    throw err;
  }
  const balancer = await startLoadBalancer(nodes.map((n) => n.port));
  const first = nodes[0] as RelayProcess;
  const output = () => nodes.map((n) => n.output()).join('');
  return {
    port: balancer.port,
    url: `ws://127.0.0.1:${balancer.port}`,
    httpUrl: `http://127.0.0.1:${balancer.port}`,
    nodeId: first.nodeId,
    proc: first.proc,
    output,
    async waitForOutput(pattern, timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(output())) {
        if (Date.now() > deadline) throw new Error(`output never matched ${pattern}:\n${output()}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return output();
    },
    async stop(signal = 'SIGTERM') {
      const codes = await Promise.all(nodes.map((n) => n.stop(signal)));
      await balancer.close();
      return codes.find((code) => code !== 0) ?? 0;
    },
  };
}
