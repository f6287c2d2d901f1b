/** Why a held final frame was dropped: the app's outbox was at its cap, or it waited too long. */
export type OutboxDropReason = 'full' | 'expired';

/** Final frames held per app at most (unless a backend is told otherwise); more drop the oldest. */
export const OUTBOX_PER_APP = 10_000;

import type { StreamEnd } from './bus';

/**
 * A final frame (reply or final error) that no connection of its app could take yet; `stream`:
 * the tokens its attempt sent, which the connection that takes it gets first (send-to.ts).
 */
export interface HeldFinal {
  eventId: string;
  text: string;
  heldUntil: number;
  stream?: StreamEnd;
}

/**
 * How much `take` hands over at once: held frames until their text reaches this many bytes
 * (the frame that reaches it included), so a node reading a large outbox holds one piece in memory, never the whole of it.
 */
export const OUTBOX_PIECE_BYTES = 1024 * 1024;

/** At most this many frames in one piece, however small. */
export const OUTBOX_PIECE_FRAMES = 256;

/**
 * Final frames kept per app until one of its connections takes them, or `heldUntil` passes.
 * `take` removes what it returns, so two connections never both receive a held frame.
 */
export interface Outbox {
  put(appId: string, final: HeldFinal): Promise<void>;
  /**
   * Takes the oldest held frames still live at `now`, one piece (OUTBOX_PIECE_BYTES,
   * OUTBOX_PIECE_FRAMES); empty only once nothing live is left. What is not taken stays where it
   * is, untouched: the caller takes the next piece when it can send it.
   */
  take(appId: string, now: number): Promise<HeldFinal[]>;
}
