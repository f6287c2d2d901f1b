/** One server-sent event. */
export interface SseEvent {
  event: string;
  id: string | undefined;
  data: string;
}

/**
 * Parses a text/event-stream body (WHATWG HTML, "Server-sent events"): fields up to a blank
 * line make an event; comments (`:`) are skipped; `data:` lines join with `\n`. Works on any
 * fetch body (Node, edge runtimes, browsers).
 */
export async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let event = { event: 'message', id: undefined as string | undefined, data: [] as string[] };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      for (;;) {
        const end = buffer.search(/\r\n|\r|\n/);
        if (end < 0) break;
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + (buffer.startsWith('\r\n', end) ? 2 : 1));
        if (line === '') {
          if (event.data.length > 0) yield { event: event.event, id: event.id, data: event.data.join('\n') };
          event = { event: 'message', id: undefined, data: [] };
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const name = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (name === 'event') event.event = value;
        else if (name === 'id') event.id = value;
        else if (name === 'data') event.data.push(value);
      }
    }
  } finally {
    reader.releaseLock();
    await body.cancel().catch(() => undefined);
  }
}
