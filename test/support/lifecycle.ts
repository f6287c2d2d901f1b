import { FINAL_ERROR_CODES, type ErrorCode } from '@relay/protocol';
import { eventFrame, type Frame, type TestClient } from './client';

// Helpers for the suites that follow events through their life (offline queue, expiry, timeouts,
// cancel, idempotency, limits, sessions, redelivery), single-node and cluster alike: sending
// events, waiting for them, and counting the frames each one got. The lifecycle suites also need
// a clean queue per test, so each test gets a fresh node: useRelay(backend, { perTest: true }).

/**
 * Every frame the client receives from now on, in arrival order, including those that
 * `next()` takes: for counting frames per event over a whole test.
 */
export function recordFrames(client: TestClient): Frame[] {
  const all: Frame[] = [];
  client.ws.on('message', (data) => all.push(JSON.parse(data.toString()) as Frame));
  return all;
}

/** The final frames (a reply, or an error with a final code) among `frames` for this event. */
export function finalsFor(frames: Frame[], eventId: string): Frame[] {
  return frames.filter(
    (f) =>
      f.event_id === eventId &&
      (f.type === 'reply' || (f.type === 'error' && FINAL_ERROR_CODES.has(f.code as ErrorCode))),
  );
}

/** The frames of this type (and event) among those the client received and `next()` left. */
export function untaken(client: TestClient, type: string, eventId?: string): Frame[] {
  return client.frames.filter((f) => f.type === type && (eventId === undefined || f.event_id === eventId));
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Sends an event and waits for its answer (`accepted` or `error`) by ref. */
export async function send(app: TestClient, frame: Frame): Promise<Frame> {
  const ref = (frame.ref as string | undefined) ?? `ref-${Math.random().toString(36).slice(2)}`;
  app.send({ ...frame, ref });
  return app.next((f) => (f.type === 'accepted' || f.type === 'error') && f.ref === ref);
}

/**
 * Sends one event per thread to athena (payload `{ i }`), all at once in this order, and returns
 * the `accepted` answers in the same order.
 */
export async function sendAll(app: TestClient, threads: string[]): Promise<Frame[]> {
  const tag = Math.random().toString(36).slice(2);
  threads.forEach((thread_id, i) => app.send(eventFrame({ thread_id, ref: `${tag}-${i}`, payload: { i } })));
  const accepted: Frame[] = [];
  for (let i = 0; i < threads.length; i++) accepted.push(await app.next((f) => f.type === 'accepted' && f.ref === `${tag}-${i}`));
  return accepted;
}

/** Polls until `done()` holds, failing with `what` after `timeoutMs`. */
export async function waitFor(what: string, done: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Every token frame of the event up to its final (each waited for up to `timeoutMs`), then the final. */
export async function untilFinal(app: TestClient, eventId: string, timeoutMs = 5_000): Promise<{ tokens: Frame[]; final: Frame }> {
  const tokens: Frame[] = [];
  for (;;) {
    const frame = await app.next((f) => f.event_id === eventId && f.type !== 'accepted', timeoutMs);
    if (frame.type !== 'token') return { tokens, final: frame };
    tokens.push(frame);
  }
}

/** The whole numbers from `from` to `to`, both included: the seqs a stream should carry. */
export const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
