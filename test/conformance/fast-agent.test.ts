import { backendsUnderTest } from '../support/backends';
import { eventFrame, type Frame } from '../support/client';
import { useRelay } from '../support/relay-fixture';

// Frames from one socket are handled one after the other, and while they wait their text counts
// against the socket's flood guard. An agent may hold max_in_flight events (64 by default) and
// answer each with a frame of up to 1 MiB: answering them all at once is what a fast agent does,
// and must never look like a flood, on any backend, with Redis healthy.

const EVENTS = 48;
const REPLY_CHARS = 512 * 1024;

describe.each(backendsUnderTest())('a fast agent ($name backend)', (backend) => {
  // The app's own send buffer is not what this suite is about: its reader shares this process
  // with the agent's 24 MiB of sends, and the slow-reader limit (RELAY_MAX_BUFFERED_BYTES, 4 MiB)
  // would close it (conformance/backpressure covers that rule).
  const r = useRelay(backend, { env: { RELAY_MAX_BUFFERED_BYTES: String(64 * 1024 * 1024) } });

  test(`answering ${EVENTS} events at once with 512 KB replies is not a flood`, async () => {
    const agent = await r.connect('athena');
    const app = await r.connect('portal');
    const closes: number[] = [];
    void agent.closed.then((c) => closes.push(c.code));
    void app.closed.then((c) => closes.push(c.code));
    for (let i = 0; i < EVENTS; i++) app.send(eventFrame({ thread_id: `portal:fast:${i}`, ref: `e${i}` }));
    const ids: string[] = [];
    for (let i = 0; i < EVENTS; i++) ids.push((await app.next((f) => f.type === 'accepted' && f.ref === `e${i}`, 10_000)).event_id as string);
    for (const id of ids) await agent.nextOf('event', id, 10_000);

    const content = 'x'.repeat(REPLY_CHARS);
    for (const id of ids) agent.send({ type: 'reply', event_id: id, content, finish_reason: 'stop' });
    const replies: Frame[] = [];
    const answered = (async () => {
      for (const id of ids) replies.push(await app.nextOf('reply', id, 30_000));
    })();
    // A closed agent fails the test at once, with its close code, not after a timeout.
    const agentClosed = agent.closed.then((c) => ({ agentClosed: c.code }));
    const done = answered.then(() => 'answered');
    done.catch(() => undefined); // lost the race to a close: the test has already failed
    expect(await Promise.race([done, agentClosed])).toBe('answered');
    expect(replies.every((f) => f.content === content)).toBe(true);
    expect(closes).toEqual([]);
    // and no reply was refused on the way
    expect(agent.frames.filter((f) => f.type === 'error')).toEqual([]);
  }, 90_000);
});
