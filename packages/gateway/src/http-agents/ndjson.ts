/** An answer broke a rule of the agent-over-HTTP contract; `reason` is a metric label. */
export class AnswerError extends Error {
  constructor(
    readonly reason: 'line_too_long' | 'body_too_large' | 'invalid_line' | 'no_reply',
    message: string,
  ) {
    super(message);
  }
}

/**
 * The lines of an NDJSON body as they arrive, without their line ends; blank lines are skipped.
 * A line longer than `maxLineBytes` throws: without a bound, an agent that never sends a newline
 * would hold a node's memory.
 */
export async function* ndjsonLines(body: ReadableStream<Uint8Array>, maxLineBytes: number): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8');
  let pending = '';
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      pending += done ? decoder.decode() : decoder.decode(value, { stream: true });
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline).replace(/\r$/, '');
        pending = pending.slice(newline + 1);
        if (line.trim() !== '') yield line;
      }
      // counted in UTF-16 units (never more than its UTF-8 bytes): cheap, and bounded all the same
      if (pending.length > maxLineBytes) throw new AnswerError('line_too_long', `An NDJSON line is over ${maxLineBytes} bytes`);
      if (done) break;
    }
    if (pending.trim() !== '') yield pending;
  } finally {
    reader.releaseLock();
  }
}

/** A whole body as text, refusing one over `maxBytes`. */
export async function readText(body: ReadableStream<Uint8Array> | null, maxBytes: number): Promise<string> {
  if (!body) return '';
  const decoder = new TextDecoder('utf-8');
  let text = '';
  let bytes = 0;
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    bytes += chunk.byteLength;
    if (bytes > maxBytes) throw new AnswerError('body_too_large', `The answer is over ${maxBytes} bytes`);
    text += decoder.decode(chunk, { stream: true });
  }
  return text + decoder.decode();
}
