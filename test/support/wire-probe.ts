import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { TestClient } from './client';

/**
 * Low-level probes for the conformance suites: raw HTTP upgrades (to read a refusal's status,
 * headers and body), plain HTTP GETs, Prometheus text parsing, and the raw text of frames a
 * TestClient receives (which its parsed frames cannot show: number spellings, whitespace).
 */

export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * Sends a WebSocket upgrade request by hand. A 101 answer is reported as status 101 with an
 * empty body (the socket is destroyed at once); any other answer is read to the end.
 */
export function rawUpgrade(httpUrl: string, pathAndQuery: string, headers: Record<string, string> = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${httpUrl}${pathAndQuery}`, {
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
        ...headers,
      },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: '' });
    });
    req.on('response', (res) => readAnswer(res).then(resolve, reject));
    req.on('error', reject);
    req.end();
  });
}

function readAnswer(res: http.IncomingMessage): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => (body += chunk));
    res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    res.on('error', reject);
  });
}

/** A plain HTTP request, read to the end. */
export function httpRequest(url: string, method = 'GET'): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method }, (res) => readAnswer(res).then(resolve, reject));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Sum of the samples of one Prometheus series in exposition text, over every label set that
 * contains all of `labels`. Returns 0 when no sample matches (a counter not yet incremented).
 */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!match || match[1] !== name) continue;
    const labelText = match[2] ?? '';
    const wanted = Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`));
    if (wanted) sum += Number(match[3]);
  }
  return sum;
}

export async function scrape(httpUrl: string): Promise<string> {
  const answer = await httpRequest(`${httpUrl}/metrics`);
  if (answer.status !== 200) throw new Error(`/metrics answered ${answer.status}`);
  return answer.body;
}

/**
 * Records the raw text of every frame the client receives from now on, in arrival order.
 * Call it right after connecting, before anything is sent that the relay could answer.
 */
export function captureRaw(client: TestClient): string[] {
  const raws: string[] = [];
  client.ws.on('message', (data) => raws.push(data.toString()));
  return raws;
}

/** The first raw frame text that contains `needle`, waiting for it up to `timeoutMs`. */
export async function rawContaining(raws: string[], needle: string, timeoutMs = 5_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = raws.find((r) => r.includes(needle));
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`no raw frame containing ${needle} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * The exact text of the top-level `"payload":` member in a frame the relay wrote. The relay's
 * own frames carry no `"payload":` text before the member, so the first occurrence is it; the
 * value is checked to be followed by the next member or the end of the object.
 */
export function payloadTextIn(raw: string, expected: string): string {
  const key = '"payload":';
  const at = raw.indexOf(key);
  if (at < 0) throw new Error(`no payload member in ${raw.slice(0, 200)}`);
  const start = at + key.length;
  const text = raw.slice(start, start + expected.length);
  const after = raw[start + expected.length];
  return after === ',' || after === '}' ? text : `${text}…(followed by ${JSON.stringify(after)})`;
}

/** Polls `read` until it returns `want` or the deadline passes; returns the last value read. */
export async function eventually<T>(read: () => Promise<T> | T, want: T, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value === want || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
