import { AGENT_SUBPROTOCOL, APP_SUBPROTOCOL, CloseCode, type Role } from '@relay/protocol';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff';
import { defaultWebSocket } from './default-socket';
import { ClientErrorCode, RelayError } from './errors';
import { OPEN, type TokenPlacement, type WebSocketConstructor, type WebSocketLike } from './socket';

/**
 * `connecting`: a socket is being opened; `open`: frames flow; `reconnecting`: the socket was
 * lost and the next attempt waits `delayMs`; `closed`: for good, after `close()` or a refusal
 * that retrying cannot fix (then `error` says why).
 */
export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** A change of connection state, as the `state` event reports it. */
export interface StateChange {
  state: ConnectionState;
  /** Failed attempts in a row so far (0 on the first try and after a healthy connection). */
  attempt: number;
  /** `reconnecting`: how long until the next attempt, in ms (backoff with jitter). */
  delayMs?: number;
  /** Why the previous socket ended: its close code (1006 when it just dropped)… */
  code?: number;
  /** …and reason, or `HTTP <status>` when the upgrade was refused. */
  reason?: string;
  /** `closed`: what stopped the client, when it was not `close()`. */
  error?: RelayError;
}

/** Client-side liveness check: a JSON ping every `intervalMs`, and a dead socket if nothing at all arrives within `timeoutMs` of it. */
export interface HeartbeatOptions {
  /** Default 25000 (the relay closes sockets silent for 60 s). */
  intervalMs?: number;
  /** Default 10000. */
  timeoutMs?: number;
}

/** Options both clients take. */
export interface ClientOptions {
  /** The relay's base URL (`ws://localhost:8080`) or the full endpoint (`…/v1/ws/app`); http(s) is read as ws(s). */
  url: string;
  /** `rlk_…` for an app, `rla_…` for an agent. */
  token: string;
  /** The WebSocket class. Default: `ws` in Node (an optional peer dependency), the global one in browsers. */
  WebSocket?: WebSocketConstructor;
  /** Where the token goes. Default: `header` with the `ws` package, `query` with a browser's WebSocket. */
  tokenIn?: TokenPlacement;
  backoff?: BackoffOptions;
  /** `false` turns the client's own pings off (the relay's WebSocket pings still run). */
  heartbeat?: HeartbeatOptions | false;
  /** Source of jitter, [0, 1). Default Math.random; tests pass their own. */
  random?: () => number;
}

const PATHS: Record<Role, string> = { app: '/v1/ws/app', agent: '/v1/ws/agent' };
const SUBPROTOCOLS: Record<Role, string> = { app: APP_SUBPROTOCOL, agent: AGENT_SUBPROTOCOL };
/** How long `close()` waits for the relay's half of the closing handshake before dropping the socket. */
const CLOSE_WAIT_MS = 3_000;

/** The endpoint to dial: the role's path appended unless already there, the token in the query if asked. */
export function endpointUrl(base: string, role: Role, token: string, tokenIn: TokenPlacement): string {
  const url = new URL(base);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  if (url.protocol === 'https:') url.protocol = 'wss:';
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new TypeError(`not a WebSocket URL: ${base}`);
  if (!url.pathname.endsWith(PATHS[role])) url.pathname = url.pathname.replace(/\/+$/, '') + PATHS[role];
  if (tokenIn === 'query') url.searchParams.set('token', token);
  return url.toString();
}

export interface ConnectionHooks {
  /** A socket opened; `epoch` counts the sockets opened so far (1 for the first). */
  opened(epoch: number): void;
  frame(text: string): void;
  state(change: StateChange): void;
}

type Timer = ReturnType<typeof setTimeout>;

/**
 * One logical connection to the relay over a succession of sockets: it dials, reconnects with
 * exponential backoff and jitter whenever a socket is lost, checks liveness with JSON pings, and
 * stops for good on `close()` or a refused token. It passes frames on as text: the client's
 * shell (client-shell.ts) checks them and answers the relay's pings.
 */
export class Connection {
  private current: WebSocketLike | undefined;
  private stateNow: ConnectionState = 'connecting';
  private failures = 0;
  private epoch = 0;
  private retryTimer: Timer | undefined;
  private pingTimer: Timer | undefined;
  private deadlineTimer: Timer | undefined;
  private lastSeen = 0;
  private closing: { done: Promise<void>; resolve: () => void; timer?: Timer } | undefined;
  private readonly WebSocket: WebSocketConstructor;
  private readonly url: string;
  private readonly headers: Record<string, string> | undefined;
  private readonly backoff: Required<BackoffOptions>;
  private readonly heartbeat: Required<HeartbeatOptions> | false;
  private readonly random: () => number;

  constructor(
    private readonly role: Role,
    options: ClientOptions,
    private readonly hooks: ConnectionHooks,
  ) {
    if (!options.token) throw new TypeError('token is required');
    const fallback = options.WebSocket ? undefined : defaultWebSocket();
    this.WebSocket = options.WebSocket ?? (fallback as { WebSocket: WebSocketConstructor }).WebSocket;
    const tokenIn = options.tokenIn ?? fallback?.tokenIn ?? 'header';
    this.url = endpointUrl(options.url, role, options.token, tokenIn);
    this.headers = tokenIn === 'header' ? { Authorization: `Bearer ${options.token}` } : undefined;
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.heartbeat = options.heartbeat === false ? false : { intervalMs: 25_000, timeoutMs: 10_000, ...options.heartbeat };
    this.random = options.random ?? Math.random;
  }

  get state(): ConnectionState {
    return this.stateNow;
  }

  /** Dials on the next microtask, so listeners added right after creation see `connecting`. */
  start(): void {
    queueMicrotask(() => {
      if (!this.closing && this.stateNow !== 'closed') this.dial();
    });
  }

  /** Sends one frame if a socket is open; false (nothing sent) otherwise. */
  send(text: string): boolean {
    const socket = this.current;
    if (this.stateNow !== 'open' || !socket || socket.readyState !== OPEN) return false;
    socket.send(text);
    return true;
  }

  /** Closes for good: no more reconnects; resolves once the socket is closed and every timer is cleared. */
  close(): Promise<void> {
    if (this.closing) return this.closing.done;
    let resolve!: () => void;
    const done = new Promise<void>((r) => (resolve = r));
    this.closing = { done, resolve };
    this.clearTimers();
    const socket = this.current;
    if (!socket) {
      this.finish();
      return done;
    }
    socket.close(CloseCode.NORMAL, 'client closing');
    // A relay that never answers the close handshake (a dead node) must not keep close() waiting.
    this.closing.timer = setTimeout(() => this.drop(socket, 1006, 'close handshake timed out'), CLOSE_WAIT_MS);
    return done;
  }

  private dial(): void {
    this.retryTimer = undefined;
    if (this.closing) return;
    this.setState({ state: 'connecting', attempt: this.failures });
    let socket: WebSocketLike;
    try {
      socket = new this.WebSocket(this.url, [SUBPROTOCOLS[this.role]], this.headers ? { headers: this.headers } : undefined);
    } catch (err) {
      this.fail(new RelayError(ClientErrorCode.CLOSED, `cannot open a WebSocket: ${(err as Error).message}`));
      return;
    }
    this.current = socket;
    let status = 0;
    let openedAt = 0;
    socket.addEventListener('open', () => {
      if (this.current !== socket) return;
      openedAt = this.lastSeen = Date.now();
      this.epoch += 1;
      this.setState({ state: 'open', attempt: this.failures });
      this.startHeartbeat(socket);
      this.hooks.opened(this.epoch);
    });
    socket.addEventListener('message', (event) => {
      if (this.current !== socket) return;
      this.lastSeen = Date.now();
      this.hooks.frame(typeof event.data === 'string' ? event.data : String(event.data));
    });
    socket.addEventListener('error', (event) => {
      // `ws` reports a refused upgrade as an error "Unexpected server response: 401"; browsers
      // hide the status, so there a refused token looks like any dropped connection.
      const refused = /Unexpected server response: (\d+)/.exec(event.message ?? '');
      if (refused) status = Number(refused[1]);
    });
    socket.addEventListener('close', (event) => {
      if (this.current !== socket) return;
      this.lost(event.code, status ? `HTTP ${status}` : event.reason, status, openedAt);
    });
  }

  /** The current socket ended (closed, dropped, refused, or found dead). */
  private lost(code: number, reason: string, status: number, openedAt: number): void {
    this.current = undefined;
    this.clearTimers();
    if (this.closing) return this.finish();
    if (status === 401 || code === CloseCode.POLICY) {
      const why = status === 401 ? 'the relay refused the token (HTTP 401)' : `closed by the relay: ${code} ${reason}`;
      return this.fail(new RelayError(ClientErrorCode.UNAUTHORIZED, why));
    }
    if (openedAt && Date.now() - openedAt >= this.backoff.resetAfterMs) this.failures = 0;
    const delayMs = backoffDelay(this.failures, this.backoff, this.random);
    this.failures += 1;
    this.setState({ state: 'reconnecting', attempt: this.failures, delayMs, code, reason });
    this.retryTimer = setTimeout(() => this.dial(), delayMs);
  }

  /** Gives up on a socket at once (no waiting for TCP to notice) and carries on as if it had closed. */
  private drop(socket: WebSocketLike, code: number, reason: string): void {
    if (this.current !== socket) return;
    const terminate = (socket as { terminate?: () => void }).terminate;
    if (typeof terminate === 'function') terminate.call(socket);
    else socket.close();
    this.lost(code, reason, 0, 0);
  }

  private startHeartbeat(socket: WebSocketLike): void {
    const heartbeat = this.heartbeat;
    if (!heartbeat) return;
    const tick = () => {
      const sentAt = Date.now();
      this.send('{"type":"ping"}');
      this.deadlineTimer = setTimeout(() => {
        if (this.lastSeen < sentAt) this.drop(socket, 1006, `no frame within ${heartbeat.timeoutMs} ms of a ping`);
      }, heartbeat.timeoutMs);
      this.pingTimer = setTimeout(tick, heartbeat.intervalMs);
    };
    this.pingTimer = setTimeout(tick, heartbeat.intervalMs);
  }

  private fail(error: RelayError): void {
    this.clearTimers();
    this.setState({ state: 'closed', attempt: this.failures, error });
  }

  private finish(): void {
    clearTimeout(this.closing?.timer);
    if (this.stateNow !== 'closed') this.setState({ state: 'closed', attempt: this.failures });
    this.closing?.resolve();
  }

  private clearTimers(): void {
    clearTimeout(this.retryTimer);
    clearTimeout(this.pingTimer);
    clearTimeout(this.deadlineTimer);
    this.retryTimer = this.pingTimer = this.deadlineTimer = undefined;
  }

  private setState(change: StateChange): void {
    this.stateNow = change.state;
    this.hooks.state(change);
  }
}
