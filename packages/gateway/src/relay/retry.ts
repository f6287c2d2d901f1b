/**
 * Backoff of the safety-net pump of an agent's waiting events (Task 'retry'): 2 s, 4 s, 8 s …
 * at most a minute, for as long as events wait.
 */
const RETRY_BASE_MS = 1_000;
const RETRY_MAX_MS = 60_000;

/** Delay before retry number `attempt` (1-based). */
export function retryDelay(attempt: number): number {
  return Math.min(RETRY_BASE_MS * 2 ** attempt, RETRY_MAX_MS);
}
