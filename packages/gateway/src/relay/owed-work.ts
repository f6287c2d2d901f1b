/**
 * Work the cluster is owed that the backend refused because it was down at that moment. Every
 * such step fails at once while Redis is unreachable, and dropping it would strand something:
 * - a closed socket's cleanup (presence, the queue detach that hands its unanswered events back,
 *   the finals it did not flush) would leave a connection that no longer exists holding its
 *   events and sessions, and listed online, for as long as this node lives: only a dead node's
 *   connections are reaped;
 * - an event the queue assigned but that was never written to its agent, or a waiting event the
 *   queue found expired and took out, would wait for ever with nobody to send or end it.
 * So a step that fails is kept and tried again once the backend is ready.
 *
 * Steps must be safe to repeat (a step may have taken effect before its answer was lost) and
 * must not depend on each other's order: a kept step is retried after later ones have run.
 */
export interface OwedWork {
  /** Runs the step now; if it fails, keeps it for a retry. Never rejects. */
  run(fields: StepFields, work: () => Promise<void>): Promise<void>;
  /** Runs every kept step again, oldest first; those that fail again stay kept. */
  retry(): Promise<void>;
  /** Steps kept for a retry. */
  readonly owed: number;
  stop(): void;
}

/** Names the step in logs: what it is, and the connection or event it is for. */
export interface StepFields {
  step: 'presence' | 'detach' | 'final' | 'deliver' | 'expire' | 'retry-later';
  conn?: string;
  event_id?: string;
}

export interface OwedWorkOptions {
  /** Whether the backend can take work now: kept steps wait for it. */
  ready(): boolean;
  /** How often to look for kept steps to retry while the backend is ready. */
  intervalMs: number;
  /** A step failed and is kept (to log and count it). */
  failed(fields: StepFields, err: unknown): void;
  /** Background work (a retry round), so that failures are logged and a drain waits for it. */
  track(work: Promise<unknown>): void;
}

interface Kept {
  fields: StepFields;
  work: () => Promise<void>;
}

export function createOwedWork(options: OwedWorkOptions): OwedWork {
  const kept: Kept[] = [];

  const attempt = async (step: Kept): Promise<boolean> => {
    try {
      await step.work();
      return true;
    } catch (err) {
      options.failed(step.fields, err);
      return false;
    }
  };

  const retry = async () => {
    // A step leaves `kept` while it runs, so rounds that overlap never run one step twice at once.
    for (const step of kept.splice(0)) if (!(await attempt(step))) kept.push(step);
  };

  const timer = setInterval(() => {
    if (kept.length > 0 && options.ready()) options.track(retry());
  }, options.intervalMs);

  return {
    async run(fields, work) {
      const step = { fields, work };
      if (!(await attempt(step))) kept.push(step);
    },
    retry,
    get owed() {
      return kept.length;
    },
    stop() {
      clearInterval(timer);
    },
  };
}
