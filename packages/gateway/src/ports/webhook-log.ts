import type { WebhookOutcome } from './event-store';

/** One webhook try as the Dashboard lists it under its app. Never the body or the secret. */
export interface WebhookTry {
  at: number;
  eventId: string;
  attempt: number;
  outcome: WebhookOutcome;
  /** The receiver's HTTP status, when it answered. */
  status?: number;
  /** Why a try that got no status failed (timeout, refused connection, no secret…). */
  error?: string;
  durationMs: number;
  node: string;
}

/** Tries kept per app: enough for "the last deliveries and failures", bounded whatever the traffic. */
export const WEBHOOK_TRIES_KEPT = 50;

/** How long an app's list of tries is kept after its latest try. */
export const WEBHOOK_TRIES_RETENTION_MS = 7 * 86_400_000;

/**
 * Each app's latest webhook tries, newest first, shared by every node: a bounded list (the
 * newest WEBHOOK_TRIES_KEPT), for operators. Event timelines hold the same tries per event.
 */
export interface WebhookLog {
  add(appId: string, entry: WebhookTry): Promise<void>;
  /** Newest first, at most WEBHOOK_TRIES_KEPT. */
  recent(appId: string): Promise<WebhookTry[]>;
}
