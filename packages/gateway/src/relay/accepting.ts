import type { RelayContext } from './context';

/**
 * Events this node is accepting, between their record and their `accepted` frame. A queued event
 * can be given to an agent by another node in that window (a reply there freed a place), and with
 * `WAIT` for replicas the window is long enough for the agent's first tokens, or its whole answer,
 * to reach the app before the event's id does. Frames for such an event wait here, in order,
 * and follow its `accepted` frame.
 */
export type Accepting = Map<string, Array<() => void>>;

export function startAccepting(ctx: RelayContext, eventId: string): void {
  ctx.accepting.set(eventId, []);
}

/** The `accepted` frame (or the error) has been written: what waited goes now, in order. */
export function endAccepting(ctx: RelayContext, eventId: string): void {
  const held = ctx.accepting.get(eventId);
  ctx.accepting.delete(eventId);
  for (const write of held ?? []) write();
}

/** True when the event is being accepted here: `write` then runs once its `accepted` is out. */
export function heldUntilAccepted(ctx: RelayContext, eventId: string, write: () => void): boolean {
  const held = ctx.accepting.get(eventId);
  if (!held) return false;
  held.push(write);
  return true;
}
