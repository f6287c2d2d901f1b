import type { AppReplyFrame, ErrorFrame } from '@relay/protocol';
import { useEffect, useState } from 'react';
import type { BackoffOptions } from './backoff';
import { RelayError } from './errors';
import { followStream, STREAM_BACKOFF } from './http-client';

/** What `useReplyStream` returns, re-rendered as the stream goes. */
export interface ReplyStream {
  /** The answer so far: the current attempt's tokens, then the final reply's whole content. */
  text: string;
  /** The current attempt's tokens, in order (a redelivery starts them again). */
  tokens: string[];
  /** The final frame: the `reply`, or a final `error` (EVENT_EXPIRED, AGENT_TIMEOUT, CANCELLED). */
  final: AppReplyFrame | ErrorFrame | undefined;
  /** What went wrong: the final error, or a refused stream (404, 401…). */
  error: Error | undefined;
  /** The stream is over: `final` or `error` is set. */
  done: boolean;
}

export interface ReplyStreamOptions {
  /** A fetch of your own; default: the global fetch. */
  fetch?: typeof fetch;
  /** Extra request headers (a session cookie goes by itself on a same-origin URL). */
  headers?: Record<string, string>;
  backoff?: BackoffOptions;
}

const EMPTY: ReplyStream = { text: '', tokens: [], final: undefined, error: undefined, done: false };

/**
 * Reads the SSE reply stream at `url` — a route of the page's own backend that proxies the
 * relay's `GET /v1/events/:id/stream` (the app token stays on the server) — and returns the
 * answer as it grows. A connection that breaks is resumed from the last token held
 * (`Last-Event-ID`), so no token is lost or shown twice. A new `url` starts afresh; null reads
 * nothing.
 */
export function useReplyStream(url: string | null | undefined, options: ReplyStreamOptions = {}): ReplyStream {
  const [state, setState] = useState<ReplyStream>(EMPTY);
  useEffect(() => {
    setState(EMPTY);
    if (!url) return undefined;
    const controller = new AbortController();
    const doFetch = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));
    const open = (lastEventId: string | undefined) =>
      doFetch(url, {
        headers: { accept: 'text/event-stream', ...options.headers, ...(lastEventId ? { 'last-event-id': lastEventId } : {}) },
        signal: controller.signal,
      });
    void (async () => {
      let attempt = 0;
      let tokens: string[] = [];
      try {
        const frames = followStream(() => open(undefined), { backoff: { ...STREAM_BACKOFF, ...options.backoff }, signal: controller.signal, eventId: url }, open);
        for await (const frame of frames) {
          if (frame.type === 'token') {
            // a redelivery's tokens replace the partial text of the attempt before it
            if (frame.attempt !== attempt) [attempt, tokens] = [frame.attempt, []];
            tokens = [...tokens, frame.token];
            const snapshot = tokens;
            setState({ ...EMPTY, tokens: snapshot, text: snapshot.join('') });
          } else if (frame.type === 'reply') {
            const snapshot = tokens;
            setState({ ...EMPTY, tokens: snapshot, text: frame.content ?? snapshot.join(''), final: frame, done: true });
          } else if (frame.type === 'error') {
            const snapshot = tokens;
            setState({ ...EMPTY, tokens: snapshot, text: snapshot.join(''), final: frame, error: RelayError.fromFrame(frame), done: true });
          }
        }
      } catch (err) {
        if (controller.signal.aborted) return;
        const snapshot = tokens;
        setState({ ...EMPTY, tokens: snapshot, text: snapshot.join(''), error: err as Error, done: true });
      }
    })();
    return () => controller.abort();
  }, [url]);
  return state;
}
