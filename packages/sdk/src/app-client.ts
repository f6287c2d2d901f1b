import {
  AppEventFrame,
  ErrorCode,
  FINAL_ERROR_CODES,
  MAX_PAYLOAD_BYTES,
  utf8ByteLength,
  type AcceptedFrame,
  type AgentsFrame,
  type ErrorFrame,
} from '@relay/protocol';
import { ClientShell, type RelayFrame } from './client-shell';
import type { ClientOptions, ConnectionState, StateChange } from './connection';
import { RelayError } from './errors';
import { EventHandleImpl, type EventHandle, type FinalOutcome } from './event-handle';
import { randomId } from './ids';
import { RecentMap } from './recent';

/** Options of `send()`. */
export interface SendOptions {
  /** How long the event may wait for an offline agent (the relay caps it). */
  ttlMs?: number;
  /**
   * Default: a new random key per `send()`, so that resending it after a reconnect can never make
   * a second event. Pass your own (e.g. your database id for the comment) to make retries from
   * another process or after a restart idempotent too. The relay remembers keys for 24 h.
   */
  idempotencyKey?: string;
}

/** One agent as `discover()` lists it. */
export type AgentInfo = AgentsFrame['agents'][number];

/** Events of an {@link AppClient}. */
export interface AppClientEvents {
  state: StateChange;
  /**
   * A final frame for an event this client holds no handle for: an event sent by another process
   * of the same app that went away (the relay hands its finals to any connection of the app), or
   * by this app before this client started. Each event is reported once.
   */
  orphan: FinalOutcome;
  /** A frame the client could not attribute to a request, or one outside the protocol. */
  error: RelayError;
}

/** An app's connection to Relay. Create it with {@link createAppClient}. */
export interface AppClient {
  readonly state: ConnectionState;
  on<K extends keyof AppClientEvents>(event: K, listener: (value: AppClientEvents[K]) => void): () => void;
  /** Resolves when the first socket is open; rejects if the client closes before (e.g. UNAUTHORIZED). */
  opened(): Promise<void>;
  /** The agents this app may send to, with live status. Waits for a connection if there is none. */
  discover(): Promise<AgentInfo[]>;
  /**
   * Sends an event and resolves with its handle once the relay has durably accepted it (matched by
   * `ref`). Waits for a connection if there is none; a send not yet accepted when a socket drops is
   * sent again, with the same idempotency key, on the next one, and so is an accepted event whose
   * final frame has not arrived (the relay then streams its tokens and final to the new socket).
   * Rejects with a {@link RelayError}: the relay's refusal (AGENT_NOT_FOUND, ALLOWLIST_DENIED,
   * RATE_LIMITED…: see `retryable`), INVALID_MESSAGE / PAYLOAD_TOO_LARGE checked before sending,
   * or CLOSED / UNAUTHORIZED.
   */
  send(agentId: string, threadId: string, payload: unknown, options?: SendOptions): Promise<EventHandle>;
  /**
   * Closes the socket (code 1000) and stops reconnecting. Unsettled sends, discovers and replies
   * reject with CLOSED (a final reply still on its way waits at the relay for the app's next
   * connection). Resolves when no socket or timer of the client is left.
   */
  close(): Promise<void>;
}

type Answer = AcceptedFrame | AgentsFrame | ErrorFrame;

/** A frame waiting for its answer, by ref. It is sent again on every new socket until answered. */
interface Pending {
  text: string;
  /** An event send not yet accepted (a final for an unknown event may belong to it). */
  awaitingAccept: boolean;
  /** How many sockets it was written to: past one, an earlier socket may have had it accepted. */
  writes?: number;
  /** Handles an answer with this request's ref; returns true when the request is done. */
  answer(frame: Answer): boolean;
  fail(error: RelayError): void;
}

/** The ref of a resume names its event, so its error is known for one. */
const RESUME_REF = 'sdk-resume:';
/** The ref of the frame sent after a batch of resumes, numbered per batch. */
const RESUME_BARRIER_REF = 'sdk-resume-barrier:';
/** A resume the relay could not serve (RELAY_UNAVAILABLE) is sent again after about this long. */
const RESUME_RETRY_MS = 500;

/** How many ended event ids are remembered to drop duplicate final frames. */
const REMEMBERED_FINALS = 10_000;

/** Creates an app client and starts connecting at once. */
export function createAppClient(options: ClientOptions): AppClient {
  return new AppClientImpl(options);
}

class AppClientImpl implements AppClient {
  private readonly shell: ClientShell<'app', AppClientEvents>;
  private readonly pending = new Map<string, Pending>();
  private readonly handles = new Map<string, { handle: EventHandleImpl; ref: string }>();
  private readonly finished = new RecentMap<string, true>(REMEMBERED_FINALS);
  /**
   * Events resumed on the current socket, with the barrier that follows their resume and a final
   * that came before their replay was written (from the relay's outbox as the socket opened, or
   * with the answer to a resend): it is held until the barrier is answered. An empty barrier:
   * the resume is to be sent again, and the final waits for that one's barrier.
   */
  private readonly resuming = new Map<string, { barrier: string; final: FinalOutcome | null }>();
  private barriers = 0;
  /** The current socket's number (ClientShell's epoch): a retry timer acts only on its own socket. */
  private epoch = 0;
  private readonly retryTimers = new Set<ReturnType<typeof setTimeout>>();
  /** Finals that arrived before the `accepted` of a resend they may belong to. */
  private readonly unclaimed = new Map<string, FinalOutcome>();
  /**
   * Events whose tokens arrived before any `accepted` named them (dropped then): a send whose
   * first try failed after the relay recorded it, streaming before the retry's `accepted`. The
   * handle that the `accepted` makes resumes, so the replay brings them back.
   */
  private readonly streamedAhead = new RecentMap<string, true>(REMEMBERED_FINALS);
  private refs = 0;

  constructor(options: ClientOptions) {
    this.shell = new ClientShell('app', options, {
      opened: (epoch) => {
        this.epoch = epoch;
        this.onOpen();
      },
      frame: (frame) => this.onFrame(frame),
      closed: (reason) => this.onClosed(reason),
    });
    this.shell.start();
  }

  get state(): ConnectionState {
    return this.shell.state;
  }

  on<K extends keyof AppClientEvents>(event: K, listener: (value: AppClientEvents[K]) => void): () => void {
    return this.shell.on(event, listener);
  }

  opened(): Promise<void> {
    return this.shell.opened();
  }

  discover(): Promise<AgentInfo[]> {
    return new Promise((resolve, reject) => {
      const ref = this.nextRef();
      this.request(ref, {
        text: JSON.stringify({ type: 'discover', ref }),
        awaitingAccept: false,
        answer: (frame) => {
          if (frame.type === 'agents') resolve(frame.agents);
          else if (frame.type === 'error') reject(RelayError.fromFrame(frame));
          return true;
        },
        fail: reject,
      });
    });
  }

  async send(agentId: string, threadId: string, payload: unknown, options: SendOptions = {}): Promise<EventHandle> {
    const ref = this.nextRef();
    const frame = {
      type: 'event' as const,
      agent_id: agentId,
      thread_id: threadId,
      payload,
      ...(options.ttlMs !== undefined ? { ttl_ms: options.ttlMs } : {}),
      idempotency_key: options.idempotencyKey ?? randomId(),
      ref,
    };
    const check = AppEventFrame.safeParse(frame);
    if (!check.success) {
      const details = check.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
      const text = details.map((d) => `${d.path} ${d.message}`).join('; ');
      throw new RelayError(ErrorCode.INVALID_MESSAGE, `Invalid event: ${text}`, undefined, details);
    }
    const bytes = utf8ByteLength(JSON.stringify(payload));
    if (bytes > MAX_PAYLOAD_BYTES) {
      throw new RelayError(ErrorCode.PAYLOAD_TOO_LARGE, `Payload is ${bytes} bytes; the limit is ${MAX_PAYLOAD_BYTES}`);
    }
    return new Promise((resolve, reject) => {
      let handle: EventHandleImpl | undefined;
      const pending: Pending = {
        text: JSON.stringify(frame),
        awaitingAccept: true,
        answer: (answer) => {
          if (handle) {
            // The answer to a resend from a new socket: the same event, now streaming here.
            if (answer.type === 'accepted' && answer.event_id !== handle.eventId) {
              this.shell.emit('error', new RelayError(ErrorCode.INVALID_MESSAGE, `resend of ${handle.eventId} was accepted as ${answer.event_id}`));
            }
            if (answer.type === 'error') this.shell.emit('error', RelayError.fromFrame(answer));
            return false;
          }
          if (answer.type === 'accepted') {
            pending.awaitingAccept = false;
            handle = new EventHandleImpl(answer, (h) => this.cancel(h));
            this.handles.set(answer.event_id, { handle, ref });
            const early = this.unclaimed.get(answer.event_id);
            this.unclaimed.delete(answer.event_id);
            const ahead = this.streamedAhead.delete(answer.event_id);
            // Accepted on an earlier socket too, perhaps: tokens went there, or nowhere, meanwhile.
            // Or the event streamed (or ended) before this `accepted`: its tokens were dropped.
            // The resume replays them; a final that came early waits for that replay.
            if ((pending.writes ?? 0) > 1 || ahead || early) this.resume([handle]);
            resolve(handle);
            if (early) this.finish(early);
            this.releaseUnclaimed();
            return false; // resent on reconnects until its final arrives
          }
          if (answer.type === 'error') {
            reject(RelayError.fromFrame(answer));
            pending.awaitingAccept = false;
            this.releaseUnclaimed();
            return true;
          }
          return false;
        },
        fail: (error) => {
          if (handle) handle.settle({ eventId: handle.eventId, ok: false, error });
          else reject(error);
        },
      };
      this.request(ref, pending);
    });
  }

  close(): Promise<void> {
    for (const timer of this.retryTimers) clearTimeout(timer);
    this.retryTimers.clear();
    return this.shell.close();
  }

  private cancel(handle: EventHandleImpl): Promise<boolean> {
    return new Promise((resolve, reject) => {
      const ref = this.nextRef();
      this.request(ref, {
        text: JSON.stringify({ type: 'cancel', event_id: handle.eventId, ref }),
        awaitingAccept: false,
        answer: (frame) => {
          // UNKNOWN_EVENT: it had already ended (its final is here or on its way). CANCELLED is
          // the event's final frame and settles the handle, which resolves this below.
          if (frame.type === 'error' && frame.code === ErrorCode.UNKNOWN_EVENT) {
            resolve(false);
            return true;
          }
          return false;
        },
        fail: reject,
      });
      void handle.endedCancelled().then((cancelled) => {
        if (this.pending.delete(ref)) resolve(cancelled);
      });
    });
  }

  private request(ref: string, pending: Pending): void {
    const stopped = this.shell.stopped;
    if (stopped) return pending.fail(stopped);
    this.pending.set(ref, pending);
    this.write(pending); // not before the first open: onOpen sends it
  }

  private write(pending: Pending): void {
    if (this.shell.send(pending.text)) pending.writes = (pending.writes ?? 0) + 1;
  }

  private onOpen(): void {
    for (const pending of this.pending.values()) this.write(pending);
    // Tokens sent while the client was away are recorded at the relay: ask for the rest of each
    // stream after the last token taken. A final held for a replay the old socket never wrote
    // stays held for this socket's replay (the old barriers will never be answered).
    this.resume([...this.handles.values()].map((h) => h.handle).filter((h) => !h.settled));
  }

  /**
   * Asks for each handle's stream after its last token taken. Until the `resumed`, its tokens
   * are dropped: they are recorded, so the replay carries them, and one taken ahead of the
   * replay would make the replay's earlier ones look old. Finals wait for the barrier.
   */
  private resume(handles: EventHandleImpl[]): void {
    if (handles.length === 0) return;
    this.barriers += 1;
    const barrier = `${RESUME_BARRIER_REF}${this.barriers}`;
    for (const handle of handles) {
      const { eventId, last } = handle;
      handle.replaying = true;
      this.resuming.set(eventId, { barrier, final: this.resuming.get(eventId)?.final ?? null });
      this.shell.send(
        JSON.stringify({
          type: 'resume',
          event_id: eventId,
          ...(last ? { attempt: last.attempt, after_seq: last.seq } : {}),
          ref: `${RESUME_REF}${eventId}`,
        }),
      );
    }
    // The relay handles a socket's frames in order, so the answer to a frame sent after the
    // resumes comes after their replays: then the finals held meanwhile can settle, last.
    this.shell.send(JSON.stringify({ type: 'discover', ref: barrier }));
  }

  private replaysWritten(barrier: string): void {
    for (const [eventId, { barrier: awaited, final }] of this.resuming) {
      if (awaited !== barrier) continue;
      this.resuming.delete(eventId);
      if (final) this.finish(final);
    }
  }

  /**
   * The relay refused a resume. UNKNOWN_EVENT: past its retention, and the resend brings the
   * final. RELAY_UNAVAILABLE (its store is down): asked again after a pause on the same socket,
   * the final held meanwhile (a new socket resumes every stream anyway).
   */
  private resumeRefused(frame: ErrorFrame & { event_id: string }): void {
    const handle = this.handles.get(frame.event_id)?.handle;
    const entry = this.resuming.get(frame.event_id);
    if (!handle || handle.settled || !RelayError.fromFrame(frame).retryable || !entry) {
      if (handle) handle.replaying = false;
      // no replay is coming: a final held for it settles now
      this.resuming.delete(frame.event_id);
      if (entry?.final) this.finish(entry.final);
      return;
    }
    entry.barrier = '';
    const epoch = this.epoch;
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer);
      if (this.epoch === epoch && !this.shell.stopped && !handle.settled) this.resume([handle]);
    }, RESUME_RETRY_MS * (0.5 + Math.random()));
    this.retryTimers.add(timer);
  }

  private onClosed(error: RelayError): void {
    const pending = [...this.pending.values()];
    this.pending.clear();
    this.handles.clear();
    for (const p of pending) p.fail(error);
    this.releaseUnclaimed();
  }

  private onFrame(frame: RelayFrame<'app'>): void {
    switch (frame.type) {
      case 'token': {
        const handle = this.handles.get(frame.event_id)?.handle;
        if (handle && !handle.replaying) handle.token(frame.token, frame.seq, frame.attempt);
        else if (!handle && !this.finished.has(frame.event_id)) this.streamedAhead.set(frame.event_id, true);
        return;
      }
      case 'reply':
        this.finish({ eventId: frame.event_id, ok: true, reply: frame });
        return;
      case 'resumed': { // its replay follows
        const handle = this.handles.get(frame.event_id)?.handle;
        if (handle) handle.replaying = false;
        return;
      }
      default: {
        if (frame.ref?.startsWith(RESUME_BARRIER_REF)) return this.replaysWritten(frame.ref);
        if (frame.type === 'error' && frame.event_id !== undefined && frame.ref === `${RESUME_REF}${frame.event_id}`) {
          return this.resumeRefused({ ...frame, event_id: frame.event_id });
        }
        const pending = frame.ref !== undefined ? this.pending.get(frame.ref) : undefined;
        if (pending?.answer(frame)) this.pending.delete(frame.ref as string);
        if (frame.type !== 'error') return;
        if (frame.event_id !== undefined && FINAL_ERROR_CODES.has(frame.code)) {
          this.finish({ eventId: frame.event_id, ok: false, error: RelayError.fromFrame(frame) });
        } else if (!pending) {
          this.shell.emit('error', RelayError.fromFrame(frame));
        }
      }
    }
  }

  /** A final frame: settles its handle once; duplicates (delivery is at least once) are dropped. */
  private finish(outcome: FinalOutcome): void {
    if (this.finished.has(outcome.eventId)) return;
    const resuming = this.resuming.get(outcome.eventId);
    if (resuming) {
      resuming.final ??= outcome;
      return;
    }
    const entry = this.handles.get(outcome.eventId);
    if (entry) {
      this.finished.set(outcome.eventId, true);
      this.handles.delete(outcome.eventId);
      this.pending.delete(entry.ref);
      entry.handle.settle(outcome);
      return;
    }
    // It may be the final of a send whose `accepted` was lost with a socket: hold it until every
    // send in progress has its answer.
    this.unclaimed.set(outcome.eventId, outcome);
    this.releaseUnclaimed();
  }

  private releaseUnclaimed(): void {
    if (this.unclaimed.size === 0) return;
    if (!this.shell.stopped && [...this.pending.values()].some((p) => p.awaitingAccept)) return;
    const orphans = [...this.unclaimed.values()];
    this.unclaimed.clear();
    for (const outcome of orphans) {
      this.finished.set(outcome.eventId, true);
      this.shell.emit('orphan', outcome);
    }
  }

  private nextRef(): string {
    this.refs += 1;
    return `sdk-${this.refs}`;
  }
}
