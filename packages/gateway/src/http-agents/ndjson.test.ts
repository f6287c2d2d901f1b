import { AnswerError, ndjsonLines, readText } from './ndjson';

const body = (...chunks: string[]) =>
  new ReadableStream<Uint8Array>({
    start(c) {
      for (const chunk of chunks) c.enqueue(new TextEncoder().encode(chunk));
      c.close();
    },
  });

const all = async (lines: AsyncGenerator<string>) => {
  const out: string[] = [];
  for await (const line of lines) out.push(line);
  return out;
};

describe('ndjsonLines', () => {
  test('lines split across chunks and characters split across chunks come out whole; blank lines and CR are dropped', async () => {
    const euro = new TextEncoder().encode('€');
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode('{"a":1}\r\n\n{"b":"'));
        c.enqueue(euro.slice(0, 1));
        c.enqueue(euro.slice(1));
        c.enqueue(new TextEncoder().encode('"}\n{"c":3}'));
        c.close();
      },
    });
    expect(await all(ndjsonLines(stream, 100))).toEqual(['{"a":1}', '{"b":"€"}', '{"c":3}']);
  });

  test('a line longer than the limit throws, even before its newline arrives', async () => {
    await expect(all(ndjsonLines(body('x'.repeat(50), 'y'.repeat(60)), 100))).rejects.toMatchObject({ reason: 'line_too_long' });
    await expect(all(ndjsonLines(body(`${'x'.repeat(99)}\n`, 'ok\n'), 100))).resolves.toEqual(['x'.repeat(99), 'ok']);
  });
});

describe('readText', () => {
  test('reads a body whole, and refuses one over the limit', async () => {
    expect(await readText(body('{"content":', '"hi"}'), 100)).toBe('{"content":"hi"}');
    await expect(readText(body('x'.repeat(101)), 100)).rejects.toBeInstanceOf(AnswerError);
  });
});
