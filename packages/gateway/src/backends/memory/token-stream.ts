import type { TokenStreamOptions, TokenStreams } from '../../ports';

interface Stream {
  attempt: number;
  tokens: string[];
  expiresAt: number;
}

/**
 * In the process, one stream per event (only its current attempt is kept: an older one is never
 * replayed). Memory is bounded by the core's cap per attempt (RELAY_STREAM_MAX_BYTES), and streams go `liveTtlMs` after their
 * latest token or `retentionMs` after their final; expired ones are swept as time passes.
 */
export function createMemoryTokenStreams(options: TokenStreamOptions): TokenStreams & { sweep(now: number): void } {
  const streams = new Map<string, Stream>();
  const live = (eventId: string, now: number) => {
    const stream = streams.get(eventId);
    if (stream && stream.expiresAt <= now) {
      streams.delete(eventId);
      return undefined;
    }
    return stream;
  };
  return {
    begin(eventId, _agentId, attempt) {
      const current = live(eventId, Date.now());
      if (current && current.attempt >= attempt) return;
      streams.set(eventId, { attempt, tokens: [], expiresAt: Date.now() + options.liveTtlMs });
    },
    append(eventId, agentId, attempt, seq, token) {
      let stream = live(eventId, Date.now());
      if (!stream || stream.attempt < attempt) {
        this.begin(eventId, agentId, attempt);
        stream = streams.get(eventId) as Stream;
      }
      if (stream.attempt !== attempt || seq !== stream.tokens.length) return;
      stream.tokens.push(token);
      stream.expiresAt = Date.now() + options.liveTtlMs;
    },
    ended(eventId) {
      const stream = live(eventId, Date.now());
      if (stream) stream.expiresAt = Date.now() + options.retentionMs;
    },
    async flushed() {},
    async sent() {},
    async attempt(eventId) {
      return live(eventId, Date.now())?.attempt ?? null;
    },
    async read(eventId, _agentId, attempt, afterSeq) {
      const stream = live(eventId, Date.now());
      if (!stream || stream.attempt !== attempt) return [];
      return stream.tokens.slice(afterSeq + 1);
    },
    sweep(now) {
      for (const [eventId, stream] of streams) if (stream.expiresAt <= now) streams.delete(eventId);
    },
  };
}
