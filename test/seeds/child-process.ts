import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';

/** The repository root: example and client scripts resolve `ws` from its node_modules. */
export const ROOT = path.resolve(__dirname, '../..');
export const CLIENTS = path.join(__dirname, 'clients');
/** Debian's interpreter, with the python3-websockets package (see README.md in this folder). */
export const PYTHON = '/usr/bin/python3';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const running = new Set<Child>();

/**
 * A client program run as a child process, with everything it writes captured. Every child is
 * tracked until it exits; `killChildren()` (afterEach) ends the ones still running.
 */
export class Child {
  stdout = '';
  stderr = '';
  readonly exited: Promise<Exit>;
  private readonly proc: ChildProcess;
  private waiters: (() => void)[] = [];

  constructor(
    readonly name: string,
    command: string,
    args: string[],
    env: Record<string, string>,
  ) {
    this.proc = spawn(command, args, {
      cwd: ROOT,
      // A small, explicit environment: nothing from the developer's shell (a stray RELAY_TOKEN)
      // leaks into what the test controls.
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', LANG: 'C.UTF-8', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(this);
    this.proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
      this.wake();
    });
    this.proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
      this.wake();
    });
    this.exited = new Promise((resolve) => {
      this.proc.once('close', (code, signal) => {
        running.delete(this);
        this.wake();
        resolve({ code, signal });
      });
    });
  }

  static node(name: string, script: string, env: Record<string, string>, args: string[] = []): Child {
    return new Child(name, process.execPath, [script, ...args], env);
  }

  static python(name: string, script: string, env: Record<string, string>): Child {
    return new Child(name, PYTHON, [script], { PYTHONIOENCODING: 'utf-8', PYTHONUNBUFFERED: '1', ...env });
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Everything written so far, labelled, for failure messages. */
  describe(): string {
    return `--- ${this.name} stdout ---\n${this.stdout}\n--- ${this.name} stderr ---\n${this.stderr}`;
  }

  /** Resolves once stdout+stderr match `pattern`; rejects after `timeoutMs` or if the child exits first. */
  async waitFor(pattern: RegExp | string, timeoutMs = 10_000): Promise<RegExpMatchArray> {
    const re = typeof pattern === 'string' ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : pattern;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = re.exec(this.stdout) ?? re.exec(this.stderr);
      if (match) return match;
      if (!this.running) throw new Error(`${this.name} exited before printing ${re}\n${this.describe()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name} did not print ${re} within ${timeoutMs} ms\n${this.describe()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The exit status, waiting at most `timeoutMs` (then the child is killed and this rejects). */
  async exit(timeoutMs = 15_000): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        void this.kill();
        reject(new Error(`${this.name} still running after ${timeoutMs} ms\n${this.describe()}`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  signal(signal: NodeJS.Signals): void {
    if (this.running) this.proc.kill(signal);
  }

  /** Ends the child (SIGKILL) if it still runs and waits until it is gone. */
  async kill(): Promise<void> {
    if (this.running) this.proc.kill('SIGKILL');
    await this.exited;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

/** Kills every child process still running; for afterEach/afterAll. */
export async function killChildren(): Promise<void> {
  await Promise.all([...running].map((c) => c.kill()));
}

/**
 * Fails loudly (never skips) when Debian's python3 or its websockets package is missing, naming
 * the package to install. Returns the installed websockets version.
 */
export function requirePythonWebsockets(): string {
  const probe = spawnSync(PYTHON, ['-c', 'import websockets; print(websockets.__version__)'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    throw new Error(
      `${PYTHON} cannot import websockets (${(probe.error?.message ?? probe.stderr).trim()}); ` +
        'install the Debian package: apt-get install -y python3 python3-websockets',
    );
  }
  return probe.stdout.trim();
}
