import { ErrorCode, FRAME_SCHEMAS, type AgentOutboundFrame, type AppOutboundFrame, type Role } from '@relay/protocol';
import { Connection, type ClientOptions, type ConnectionState, type StateChange } from './connection';
import { Emitter } from './emitter';
import { ClientErrorCode, RelayError } from './errors';

/** The events every client has; each client adds its own. */
export interface ShellEvents {
  state: StateChange;
  error: RelayError;
}

/** A frame the relay sends to a client of this role, other than ping and pong (the shell answers those). */
export type RelayFrame<R extends Role> = Exclude<{ app: AppOutboundFrame; agent: AgentOutboundFrame }[R], { type: 'ping' | 'pong' }>;

/** What a client does with its connection; the shell has already done its own part of each. */
export interface ShellHooks<R extends Role> {
  /** A socket opened; `epoch` counts the sockets opened so far (1 for the first). */
  opened(epoch: number): void;
  /** A frame from the relay that matches the protocol. */
  frame(frame: RelayFrame<R>): void;
  /** Any change of state, after listeners have heard of it. */
  state?(change: StateChange): void;
  /** The connection ended for good, after close() or a refusal; `reason` is also `stopped`. */
  closed?(reason: RelayError): void;
}

/**
 * What the app client and the agent client share around their {@link Connection}: the state and
 * its `state` event, listeners, `opened()`, why the client stopped, and turning the relay's text
 * into checked frames (a frame outside the protocol becomes an `error` event, a ping is answered).
 * Each client holds one and keeps only what its role adds.
 */
export class ClientShell<R extends Role, Events extends ShellEvents> {
  private readonly emitter = new Emitter<Events>();
  private readonly connection: Connection;
  private readonly firstOpen: Promise<void>;
  private settleFirstOpen!: { resolve: () => void; reject: (err: RelayError) => void };
  private stoppedBy: RelayError | undefined;

  constructor(
    private readonly role: R,
    options: ClientOptions,
    private readonly hooks: ShellHooks<R>,
  ) {
    this.firstOpen = new Promise((resolve, reject) => (this.settleFirstOpen = { resolve, reject }));
    this.firstOpen.catch(() => undefined); // only those who call opened() hear of it
    this.connection = new Connection(role, options, {
      opened: (epoch) => {
        this.settleFirstOpen.resolve();
        this.hooks.opened(epoch);
      },
      frame: (text) => this.onFrame(text),
      state: (change) => this.onState(change),
    });
  }

  /** Starts connecting (on the next microtask, so listeners added right after creation see `connecting`). */
  start(): void {
    this.connection.start();
  }

  get state(): ConnectionState {
    return this.connection.state;
  }

  /** Why the client stopped, once it has: CLOSED after close(), else what ended the connection. */
  get stopped(): RelayError | undefined {
    return this.stoppedBy;
  }

  on<K extends keyof Events>(event: K, listener: (value: Events[K]) => void): () => void {
    return this.emitter.on(event, listener);
  }

  emit<K extends keyof Events>(event: K, value: Events[K]): void {
    this.emitter.emit(event, value);
  }

  /** Resolves when the first socket is open; rejects if the client stops before. */
  opened(): Promise<void> {
    return this.firstOpen;
  }

  /** Sends one frame if a socket is open; false (nothing sent) otherwise. */
  send(text: string): boolean {
    return this.connection.send(text);
  }

  /** Marks the client stopped by close() (unless something stopped it before) and returns why it stopped. */
  stop(): RelayError {
    this.stoppedBy ??= new RelayError(ClientErrorCode.CLOSED, 'The client was closed');
    return this.stoppedBy;
  }

  /** Stops and closes the connection; resolves once no socket or timer of it is left. */
  close(): Promise<void> {
    this.stop();
    return this.connection.close();
  }

  private onState(change: StateChange): void {
    this.emitBase('state', change);
    let reason: RelayError | undefined;
    if (change.state === 'closed') {
      reason = this.stoppedBy = change.error ?? this.stop();
      this.settleFirstOpen.reject(reason);
    }
    this.hooks.state?.(change);
    if (reason) this.hooks.closed?.(reason);
  }

  private onFrame(text: string): void {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      this.emitBase('error', new RelayError(ErrorCode.INVALID_JSON, `The relay sent a frame that is not JSON: ${text.slice(0, 100)}`));
      return;
    }
    const parsed = FRAME_SCHEMAS[this.role].outbound.safeParse(value);
    if (!parsed.success) {
      this.emitBase('error', new RelayError(ErrorCode.INVALID_MESSAGE, `The relay sent a frame outside the protocol: ${parsed.error.message}`));
      return;
    }
    const frame = parsed.data;
    if (frame.type === 'ping') {
      this.send(JSON.stringify({ type: 'pong', ...(frame.ref !== undefined ? { ref: frame.ref } : {}) }));
      return;
    }
    if (frame.type === 'pong') return;
    this.hooks.frame(frame as RelayFrame<R>);
  }

  /** Emits one of the events every client has (Events may narrow their types, never change them). */
  private emitBase<K extends keyof ShellEvents>(event: K, value: ShellEvents[K]): void {
    (this.emitter as unknown as Emitter<ShellEvents>).emit(event, value);
  }
}
