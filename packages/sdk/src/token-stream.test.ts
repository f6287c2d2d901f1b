import { TokenStream } from './token-stream';

describe('TokenStream', () => {
  test('every iterator sees every token from the first, and ends when the stream ends', async () => {
    const stream = new TokenStream();
    stream.push({ text: 'a', seq: 0, attempt: 1 });
    const early: string[] = [];
    const reading = (async () => {
      for await (const t of stream) early.push(t.text);
    })();
    stream.push({ text: 'b', seq: 1, attempt: 1 });
    await new Promise((r) => setTimeout(r, 0));
    stream.end();
    await reading;
    const late: string[] = [];
    for await (const t of stream) late.push(t.text);
    expect(early).toEqual(['a', 'b']);
    expect(late).toEqual(['a', 'b']);
  });

  test('text() is the answer since the last restart (seq 0 again after a redelivery)', () => {
    const stream = new TokenStream();
    const tokens = [['Hel', 0, 1], ['l', 1, 1], ['Hello', 0, 2], [' you', 1, 2]] as const;
    for (const [text, seq, attempt] of tokens) stream.push({ text, seq, attempt });
    expect(stream.text()).toBe('Hello you');
  });
});
