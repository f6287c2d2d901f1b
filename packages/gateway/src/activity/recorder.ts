import type { ActivityEventFields, ActivityEventUpdate, ActivityStore, EventRecord } from '../ports';
import { field, minuteOf } from './counts';

/**
 * Counts what happens to events on this node, in memory, and writes it to the activity store in
 * one batch per interval: the event path only bumps counters. A batch the store refuses is
 * dropped (reported by `onError`): the Dashboard shows traffic, it does not account for it.
 */
export interface ActivityRecorder {
  accepted(event: EventRecord): void;
  delivered(event: EventRecord, attempt: number): void;
  /** Every token relayed; `seq` 0 is the first, which times the first token. */
  token(event: EventRecord, seq: number): void;
  /** `outcome`: `reply_<finish_reason>` or the final error's code. */
  ended(event: EventRecord, outcome: string): void;
  /** Writes what was counted since the last flush. */
  flush(): Promise<void>;
  /** Stops the timer and writes what is left. */
  stop(): Promise<void>;
}

export interface ActivityRecorderOptions {
  intervalMs?: number;
  onError(err: unknown): void;
  now?: () => number;
}

export function createActivityRecorder(store: ActivityStore, options: ActivityRecorderOptions): ActivityRecorder {
  const now = options.now ?? Date.now;
  let counts = new Map<number, Map<string, number>>();
  let rows = new Map<string, ActivityEventFields>();

  const count = (name: string, n = 1, at = now()) => {
    const minute = minuteOf(at);
    let bucket = counts.get(minute);
    if (!bucket) counts.set(minute, (bucket = new Map()));
    bucket.set(name, (bucket.get(name) ?? 0) + n);
  };
  const row = (event: EventRecord, fields: Partial<ActivityEventFields>) => {
    const base = rows.get(event.id) ?? { appId: event.appId, agentId: event.agentId, threadId: event.threadId, acceptedAt: event.acceptedAt };
    rows.set(event.id, { ...base, ...fields });
  };
  const since = (event: EventRecord) => Math.max(0, now() - event.acceptedAt);
  // Each agent's token counter name, built once: tokens are counted at the rate they are
  // relayed, and a name built per call is a new string to hash each time. Agents are configured,
  // so this stays small.
  const tokenFields = new Map<string, string>();
  const tokensOf = (agentId: string) => {
    let name = tokenFields.get(agentId);
    if (name === undefined) tokenFields.set(agentId, (name = field.tokens(agentId)));
    return name;
  };

  let flushing: Promise<void> = Promise.resolve();
  const flush = () => {
    const batchCounts = counts;
    const batchRows = rows;
    counts = new Map();
    rows = new Map();
    const updates: ActivityEventUpdate[] = [...batchRows].map(([eventId, fields]) => ({ eventId, fields }));
    // One flush at a time: a slow store must not have two batches racing for the same rows.
    flushing = flushing.then(async () => {
      try {
        // Rows first: a reader that sees an event counted finds its row too.
        if (updates.length > 0) await store.putEvents(updates, now());
        await Promise.all([...batchCounts].map(([minute, bucket]) => store.add(minute, bucket)));
      } catch (err) {
        options.onError(err);
      }
    });
    return flushing;
  };
  const timer = setInterval(() => void flush(), options.intervalMs ?? 1_000);
  timer.unref();

  return {
    accepted(event) {
      count(field.accepted(event.agentId, event.appId), 1, event.acceptedAt);
      row(event, {});
    },
    delivered(event, attempt) {
      const ms = since(event);
      count(field.delivered(event.agentId));
      row(event, { attempt, deliveredMs: ms });
    },
    token(event, seq) {
      count(tokensOf(event.agentId));
      if (seq !== 0) return;
      const ms = since(event);
      count(field.latency('ttft', event.agentId, ms));
      row(event, { firstTokenMs: ms });
    },
    ended(event, outcome) {
      const ms = since(event);
      count(field.ended(event.agentId, outcome));
      if (outcome.startsWith('reply_')) count(field.latency('reply', event.agentId, ms));
      row(event, { outcome, finalMs: ms });
    },
    flush,
    async stop() {
      clearInterval(timer);
      await flush();
    },
  };
}
