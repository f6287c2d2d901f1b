/** Why a held final frame was dropped: the app's outbox was at its cap, or it waited too long. */
export type OutboxDropReason = 'full' | 'expired';

/** A final frame (reply or final error) that no connection of its app could take yet. */
export interface HeldFinal {
  eventId: string;
  text: string;
  heldUntil: number;
}

/**
 * Final frames kept per app until one of its connections takes them, or `heldUntil` passes.
 * `take` removes what it returns, so two connections never both receive a held frame.
 */
export interface Outbox {
  put(appId: string, final: HeldFinal): Promise<void>;
  take(appId: string, now: number): Promise<HeldFinal[]>;
}
