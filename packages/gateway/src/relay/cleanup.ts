/**
 * What a node owes the cluster when one of its sockets closes: taking it out of presence,
 * detaching an agent connection from its queue (which hands its unanswered events back), sending
 * on the finals it did not flush. While the backend is down, that work fails at once. Dropping it
 * would leave a connection that no longer exists holding its events and its sessions, and listed
 * as online, for as long as this node lives: only a dead node's connections are reaped. So a
 * step that fails is kept and tried again once the backend is ready.
 *
 * Steps must be safe to repeat (a step may have taken effect before its answer was lost) and
 * must not depend on each other's order: a kept step is retried after later ones have run.
 */
export interface Cleanup {
  /** Runs the step now; if it fails, keeps it for a retry. Never rejects. */
  run(fields: StepFields, work: () => Promise<void>): Promise<void>;
  /** Runs every kept step again, oldest first; those that fail again stay kept. */
  retry(): Promise<void>;
  /** Steps kept for a retry. */
  readonly owed: number;
  stop(): void;
}

/** Names the step in logs: what it is and which connection it is for. */
export interface StepFields {
  step: string;
  conn: string;
}

export interface CleanupOptions {
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

export function createCleanup(options: CleanupOptions): Cleanup {
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
