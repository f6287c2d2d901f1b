import { randomBytes, randomInt } from 'node:crypto';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * `evt_` + 10 characters of milliseconds + 16 random ones (a ULID): unique without coordination
 * between nodes, and roughly time-ordered so ids sort by accept time.
 */
export function newEventId(now: number = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32] + time;
    t = Math.floor(t / 32);
  }
  let rand = '';
  for (let i = 0; i < 16; i++) rand += CROCKFORD[randomInt(32)];
  return `evt_${time}${rand}`;
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** A random string of base62 characters: 32 of them carry about 190 bits. */
export function randomSecret(length = 32): string {
  const bytes = randomBytes(length * 2);
  let out = '';
  for (let i = 0; out.length < length && i < bytes.length; i++) {
    const b = bytes[i] as number;
    if (b < 248) out += BASE62[b % 62]; // reject the tail so every character is equally likely
  }
  return out.length === length ? out : randomSecret(length);
}

let connCounter = 0;
/**
 * `<nodeId>.<n>`: unique in the cluster, and it names the node holding the socket, so frames for
 * it can be routed without a lookup.
 */
export function newConnectionId(nodeId: string): string {
  connCounter += 1;
  return `${nodeId}.${connCounter.toString(36)}`;
}

/** The node holding a connection, from its id. */
export function nodeOfConnection(connId: string): string {
  return connId.slice(0, connId.lastIndexOf('.'));
}

/**
 * `<nodeId>.h_<n>`: an HTTP request or SSE stream of the HTTP API. It names its node like a
 * socket's id, and says it is in no presence list: a final for it is sent to its node directly.
 */
export function newRequestId(nodeId: string): string {
  connCounter += 1;
  return `${nodeId}.h_${connCounter.toString(36)}`;
}

/** Whether a connection id is an HTTP request's (newRequestId). */
export function isRequestId(connId: string): boolean {
  return connId.startsWith('h_', connId.lastIndexOf('.') + 1);
}
