import type { ChildProcess } from 'node:child_process';

/**
 * Past this a process asked to stop is SIGKILLed. It is longer than any stop the suites wait
 * for on purpose (a node's drain grace plus its backend's close, 10 s each; a Redis primary
 * waiting 10 s for its replica), so only a hung process meets it.
 */
export const KILL_AFTER_MS = 25_000;

/**
 * Sends `signal` and resolves with the exit code, or the signal that ended the process, once it
 * is gone. One still running after `killAfterMs` is SIGKILLed, and then says 'SIGKILL'. A stop
 * must end: jest runs the suites in one process on a two-core machine, so a child left running
 * by a teardown that timed out keeps that process, and CI, from ever exiting.
 */
export async function stopProcess(proc: ChildProcess, signal: NodeJS.Signals, killAfterMs = KILL_AFTER_MS): Promise<number | string> {
  if (proc.exitCode !== null) return proc.exitCode;
  if (proc.signalCode !== null) return proc.signalCode;
  const exited = new Promise<number | string>((resolve) => proc.once('exit', (code, sig) => resolve(code ?? sig ?? 'unknown')));
  proc.kill(signal);
  const hung = setTimeout(() => proc.kill('SIGKILL'), killAfterMs);
  try {
    return await exited;
  } finally {
    clearTimeout(hung);
  }
}
