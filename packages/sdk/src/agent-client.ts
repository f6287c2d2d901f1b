import { ErrorCode, type AgentEventFrame } from '@relay/protocol';
import { ReplyImpl, type Reply, type ReplySink } from './agent-reply';
import { ClientShell, type RelayFrame } from './client-shell';
import type { ClientOptions, ConnectionState, StateChange } from './connection';
import { RelayError } from './errors';
import { RecentMap } from './recent';

/** Options of {@link createAgentClient}. */
export interface AgentClientOptions extends ClientOptions {
  /**
   * Handlers running at once (default 4). Events of one `session_key` always run one at a time,
   * in the order the relay delivered them; other sessions run beside them up to this limit.
   */
  concurrency?: number;
}

/**
 * Answers one event: stream with `reply.token()`, finish with `return reply.done(text)`. If it
 * throws, or returns without a reply, the SDK answers `finish_reason: "error"` with the message.
 * Stop when `reply.signal` fires (the app cancelled): nothing more is sent for that event.
 */
export type EventHandler = (event: AgentEventFrame, reply: Reply) => unknown;

/** Events of an {@link AgentClient}. */
export interface AgentClientEvents {
  state: StateChange;
  /** An error frame from the relay (e.g. UNKNOWN_EVENT for a reply to an event that already ended), or a frame outside the protocol. */
  error: RelayError;
  /** A handler threw or returned without replying; the event was answered with `finish_reason: "error"` (unless cancelled). */
  handlerError: { event: AgentEventFrame; error: unknown };
}

/** An agent's connection to Relay. Create it with {@link createAgentClient}. */
export interface AgentClient {
  readonly state: ConnectionState;
  on<K extends keyof AgentClientEvents>(event: K, listener: (value: AgentClientEvents[K]) => void): () => void;
  /** Resolves when the first socket is open; rejects if the client closes before (e.g. UNAUTHORIZED). */
  opened(): Promise<void>;
  /**
   * Sets the handler (replacing any earlier one). Events that arrive before there is a handler
   * wait. Each event runs once per client however often the relay delivers it (delivery is at
   * least once): a redelivery of an event still running joins that run, and one of an event
   * already answered gets the same reply again. Either way the tokens streamed so far are sent
   * again first, so the redelivery's attempt spells the whole answer to the app.
   */
  onEvent(handler: EventHandler): this;
  /**
   * Stops: aborts running handlers (their events go back to the relay for redelivery), closes the
   * socket and resolves once it is closed and every handler has returned.
   */
  close(): Promise<void>;
}

/** One event this client holds: waiting for a slot, or running. */
interface Job {
  event: AgentEventFrame;
  /** The socket (epoch) that holds the event now: tokens and the reply go out only on it. */
  epoch: number;
  controller: AbortController;
  started: boolean;
  /**
   * Every token the handler has streamed, sent or not: a redelivery starts a new attempt at seq
   * 0 and the app drops the older attempt's text, so the new attempt carries them again.
   */
  tokens: string[];
}

/** An answered event: its tokens and reply frame, sent again if the event is redelivered. */
interface Answer {
  tokens: string[];
  reply: string;
}

/** Replies (with their tokens) remembered to answer a redelivery of an event already answered. */
const REMEMBERED_REPLIES = 1_000;
/** A reply the relay could not record (RELAY_UNAVAILABLE) is sent again after about this long. */
const REPLY_RETRY_MS = 1_000;

/** Creates an agent client and starts connecting at once. */
export function createAgentClient(options: AgentClientOptions): AgentClient {
  return new AgentClientImpl(options);
}

class AgentClientImpl implements AgentClient, ReplySink {
  private readonly shell: ClientShell<'agent', AgentClientEvents>;
  private readonly concurrency: number;
  private handler: EventHandler | undefined;
  private readonly jobs = new Map<string, Job>();
  private waiting: Job[] = [];
  private readonly busySessions = new Set<string>();
  private readonly runs = new Set<Promise<void>>();
  private readonly answered = new RecentMap<string, Answer>(REMEMBERED_REPLIES);
  private readonly retryTimers = new Set<ReturnType<typeof setTimeout>>();
  private epoch = 0;

  constructor(options: AgentClientOptions) {
    this.concurrency = Math.max(1, options.concurrency ?? 4);
    this.shell = new ClientShell('agent', options, {
      opened: (epoch) => (this.epoch = epoch),
      frame: (frame) => this.onFrame(frame),
      state: (change) => this.onState(change),
      closed: (reason) => this.abortAll(reason),
    });
    this.shell.start();
  }

  get state(): ConnectionState {
    return this.shell.state;
  }

  on<K extends keyof AgentClientEvents>(event: K, listener: (value: AgentClientEvents[K]) => void): () => void {
    return this.shell.on(event, listener);
  }

  opened(): Promise<void> {
    return this.shell.opened();
  }

  onEvent(handler: EventHandler): this {
    this.handler = handler;
    this.pump();
    return this;
  }

  async close(): Promise<void> {
    this.abortAll(this.shell.stop());
    for (const timer of this.retryTimers) clearTimeout(timer);
    this.retryTimers.clear();
    await this.shell.close();
    await Promise.allSettled([...this.runs]);
  }

  // ReplySink: frames of a running handler go out only on the socket that holds its event.
  token(eventId: string, text: string): void {
    this.jobs.get(eventId)?.tokens.push(text);
    if (this.holds(eventId)) this.sendToken(eventId, text);
  }

  reply(eventId: string, text: string): void {
    this.answered.set(eventId, { tokens: this.jobs.get(eventId)?.tokens ?? [], reply: text });
    // If the socket that held the event is gone, the relay redelivers the event to the next
    // one, and the remembered reply answers it then.
    if (this.holds(eventId)) this.shell.send(text);
  }

  private sendToken(eventId: string, text: string): void {
    this.shell.send(JSON.stringify({ type: 'token', event_id: eventId, token: text }));
  }

  private holds(eventId: string): boolean {
    return this.jobs.get(eventId)?.epoch === this.epoch && this.shell.state === 'open';
  }

  private onState(change: StateChange): void {
    if (change.state === 'open') return;
    // Events not started yet go back to the relay with the socket, which redelivers them.
    for (const job of this.waiting) this.jobs.delete(job.event.event_id);
    this.waiting = [];
  }

  private onFrame(frame: RelayFrame<'agent'>): void {
    switch (frame.type) {
      case 'event':
        return this.onDelivery(frame);
      case 'cancel':
        return this.onCancel(frame.event_id);
      case 'error':
        if (frame.code === ErrorCode.RELAY_UNAVAILABLE && frame.event_id !== undefined) this.retryReply(frame.event_id);
        this.shell.emit('error', RelayError.fromFrame(frame));
        return;
    }
  }

  /**
   * The relay could not record a frame for this event (its store is down): if it was the reply,
   * send it again after a pause, as RELAY_UNAVAILABLE asks. Only on the same socket: the relay
   * still holds the event for it, while a new socket gets the event again and the remembered
   * reply answers that. A retry that is refused again is retried again.
   */
  private retryReply(eventId: string): void {
    const text = this.answered.get(eventId)?.reply;
    if (text === undefined || this.shell.stopped) return;
    const epoch = this.epoch;
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer);
      if (this.epoch === epoch && !this.shell.stopped) this.shell.send(text);
    }, REPLY_RETRY_MS * (0.5 + Math.random()));
    this.retryTimers.add(timer);
  }

  private onDelivery(event: AgentEventFrame): void {
    const id = event.event_id;
    const answer = this.answered.get(id);
    if (answer !== undefined) {
      // Answered already, but the reply was lost with a socket: the same tokens and reply again
      // (this delivery is a new attempt, streamed from seq 0), no new run.
      for (const token of answer.tokens) this.sendToken(id, token);
      this.shell.send(answer.reply);
      return;
    }
    const job = this.jobs.get(id);
    if (job) {
      // Still running: its tokens so far go out again on this socket (a new attempt), and its
      // remaining tokens and reply follow them here.
      job.epoch = this.epoch;
      for (const token of job.tokens) this.sendToken(id, token);
      return;
    }
    if (this.shell.stopped) return;
    const fresh: Job = { event, epoch: this.epoch, controller: new AbortController(), started: false, tokens: [] };
    this.jobs.set(id, fresh);
    this.waiting.push(fresh);
    this.pump();
  }

  private onCancel(eventId: string): void {
    const job = this.jobs.get(eventId);
    if (!job) return;
    if (!job.started) {
      this.waiting = this.waiting.filter((j) => j !== job);
      this.jobs.delete(eventId);
      return;
    }
    job.controller.abort(new RelayError(ErrorCode.CANCELLED, 'The event was cancelled', eventId));
  }

  /** Starts waiting events while there is room, never two of one session at once. */
  private pump(): void {
    const handler = this.handler;
    if (!handler) return;
    for (let i = 0; i < this.waiting.length && this.busySessions.size < this.concurrency; ) {
      const job = this.waiting[i] as Job;
      if (this.busySessions.has(job.event.session_key)) {
        i++;
        continue;
      }
      this.waiting.splice(i, 1);
      this.start(job, handler);
    }
  }

  private start(job: Job, handler: EventHandler): void {
    const { event, controller } = job;
    job.started = true;
    this.busySessions.add(event.session_key);
    const reply = new ReplyImpl(event, controller.signal, this);
    const run = (async () => {
      try {
        await handler(event, reply);
        if (!reply.replied && !controller.signal.aborted) {
          this.handlerFailed(job, reply, new Error('The handler returned without a reply'));
        }
      } catch (err) {
        if (!controller.signal.aborted) this.handlerFailed(job, reply, err);
      } finally {
        if (this.jobs.get(event.event_id) === job) this.jobs.delete(event.event_id);
        this.busySessions.delete(event.session_key);
        this.pump();
      }
    })();
    this.runs.add(run);
    void run.finally(() => this.runs.delete(run));
  }

  private handlerFailed(job: Job, reply: ReplyImpl, error: unknown): void {
    this.shell.emit('handlerError', { event: job.event, error });
    if (reply.replied) return;
    const message = error instanceof Error ? error.message : String(error);
    reply.fail(message || 'The agent failed');
  }

  private abortAll(reason: RelayError): void {
    for (const job of this.jobs.values()) job.controller.abort(reason);
    this.waiting = [];
  }
}
