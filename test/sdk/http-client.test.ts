/**
 * The SDK's HTTP client (fetch only) against a real gateway process: send, status, discover,
 * cancel, a send that streams, and a stream that breaks and resumes on its own from its last
 * token, every token once.
 */
import { createHttpClient, ErrorCode, RelayError, type StreamFrame } from '@relay/sdk';
import { backendsUnderTest } from '../support/backends';
import type { TestClient } from '../support/client';
import { useRelay } from '../support/relay-fixture';

const FAST = { backoff: { initialMs: 10, maxMs: 50 } };

async function all(frames: AsyncIterable<StreamFrame>): Promise<StreamFrame[]> {
  const out: StreamFrame[] = [];
  for await (const frame of frames) out.push(frame);
  return out;
}

/**
 * A fetch whose first stream answer breaks after `events` SSE events, as a dropped connection
 * would: the client must resume by itself.
 */
function breakingFetch(events: number): { fetch: typeof fetch; streams: string[] } {
  const streams: string[] = [];
  let broken = false;
  const wrapped = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const res = await fetch(input, init);
    const accept = new Headers(init?.headers).get('accept');
    if (accept !== 'text/event-stream') return res;
    streams.push(new Headers(init?.headers).get('last-event-id') ?? '');
    if (broken || !res.body) return res;
    broken = true;
    const reader = res.body.getReader();
    let seen = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { value, done } = await reader.read();
        if (done) return controller.close();
        const text = new TextDecoder().decode(value);
        const cut = text.split('\n\n');
        let keep = '';
        for (const block of cut.slice(0, -1)) {
          if (!block.startsWith(':')) seen += 1;
          keep += `${block}\n\n`;
          if (seen === events) {
            controller.enqueue(new TextEncoder().encode(keep));
            await reader.cancel();
            controller.error(new TypeError('connection reset'));
            return;
          }
        }
        controller.enqueue(value);
      },
    });
    return new Response(body, { status: res.status, headers: res.headers });
  }) as typeof fetch;
  return { fetch: wrapped, streams };
}

describe.each(backendsUnderTest({ singleNode: true }))('HTTP client ($name backend)', (backend) => {
  const r = useRelay(backend, { perTest: true });
  const client = (extra: Partial<Parameters<typeof createHttpClient>[0]> = {}) =>
    createHttpClient({ url: r.relay.httpUrl, token: r.tokens.portal, ...FAST, ...extra });

  async function delivered(agent: TestClient, id: string): Promise<void> {
    await agent.nextOf('event', id);
  }

  test('send, status, discover; errors are RelayErrors with the protocol code', async () => {
    const http = client();
    const accepted = await http.send({ agent_id: 'athena', thread_id: 'portal:sdk', payload: { q: 1 } });
    expect(accepted).toMatchObject({ type: 'accepted', agent_id: 'athena', queued: true });
    expect(await http.status(accepted.event_id)).toMatchObject({ event_id: accepted.event_id, state: 'queued', final: null });
    expect((await http.discover()).map((a) => a.id).sort()).toEqual(['athena', 'klyve']);
    await expect(http.send({ agent_id: 'nobody', thread_id: 't', payload: 1 })).rejects.toMatchObject({ code: ErrorCode.AGENT_NOT_FOUND });
    await expect(http.status('evt_01NOSUCHEVENTXXXXX')).rejects.toBeInstanceOf(RelayError);
    await expect(client({ token: r.tokens.athena }).discover()).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
  });

  test('sendAndStream: accepted, tokens, then the reply, in one request', async () => {
    const agent = await r.connect('athena');
    const frames = all(client().sendAndStream({ agent_id: 'athena', thread_id: 'portal:sdk', payload: 'hi' }));
    const event = await agent.nextOf('event');
    for (const t of ['a', 'b', 'c']) agent.send({ type: 'token', event_id: event.event_id, token: t });
    agent.send({ type: 'reply', event_id: event.event_id, content: 'abc', finish_reason: 'stop' });
    const got = await frames;
    expect(got.map((f) => f.type)).toEqual(['accepted', 'token', 'token', 'token', 'reply']);
    expect(got.at(-1)).toMatchObject({ content: 'abc' });
  });

  test('a stream that breaks resumes by itself from its last token: every token once, then the final', async () => {
    const agent = await r.connect('athena');
    const breaking = breakingFetch(3);
    const http = client({ fetch: breaking.fetch });
    const accepted = await http.send({ agent_id: 'athena', thread_id: 'portal:sdk', payload: 'hi' });
    await delivered(agent, accepted.event_id);
    for (let i = 0; i < 5; i++) agent.send({ type: 'token', event_id: accepted.event_id, token: `t${i}` });
    const frames: StreamFrame[] = [];
    const reading = (async () => {
      for await (const frame of http.stream(accepted.event_id)) {
        frames.push(frame);
        if (frames.length === 5) agent.send({ type: 'reply', event_id: accepted.event_id, content: 't0t1t2t3t4', finish_reason: 'stop' });
      }
    })();
    await reading;
    expect(frames.map((f) => (f.type === 'token' ? f.token : f.type))).toEqual(['t0', 't1', 't2', 't3', 't4', 'reply']);
    // the second request named the last token of the first
    expect(breaking.streams).toEqual(['', '1.2']);
  });

  test('cancel: the final CANCELLED ends the stream', async () => {
    const http = client();
    const accepted = await http.send({ agent_id: 'athena', thread_id: 'portal:sdk', payload: 1 });
    const frames = all(http.stream(accepted.event_id));
    await http.cancel(accepted.event_id);
    expect((await frames).at(-1)).toMatchObject({ type: 'error', code: 'CANCELLED', event_id: accepted.event_id });
    await expect(http.cancel(accepted.event_id)).rejects.toMatchObject({ code: ErrorCode.UNKNOWN_EVENT });
  });
});
