import * as outbound from './outbound';
import { fakeConnection, memoryBackend, relayOn, until, wait } from '../testing/in-process';

// Issue 11 item 2: whatever a frame holds, every accepted event ends with one final. The parser
// refuses the frames known to break the encoder (nesting, see @relay/protocol), but the rule is
// the order: the app's reply is encoded before the event is marked answered and its reply timer
// stopped, so a reply that cannot be encoded changes nothing. The encoder is made to fail here,
// as no frame that passes the parser can make it fail on cue.

test('a reply that cannot be encoded leaves the event the agent’s: it may answer again, or time out', async () => {
  const backend = memoryBackend();
  const { relay } = relayOn(backend, { replyTimeoutMs: 300 });
  const encode = jest.spyOn(outbound, 'appReplyFrame');
  try {
    const agent = fakeConnection('n1.1', 'agent', 'athena');
    const app = fakeConnection('n1.2', 'app', 'portal');
    relay.opened(agent);
    relay.opened(app);
    await wait(50); // both attached and present

    const eventFrame = (thread: string) =>
      JSON.stringify({ type: 'event', agent_id: 'athena', thread_id: `portal:${thread}`, payload: { n: 1 } });
    const reply = (eventId: string, ref: string) =>
      JSON.stringify({ type: 'reply', event_id: eventId, content: 'ok', finish_reason: 'stop', ref });
    const finals = (eventId: string) => app.frames.filter((f) => f.event_id === eventId && (f.type === 'reply' || f.type === 'error'));

    // the agent answers again after the failure: its second reply is the one final
    relay.received(app, eventFrame('t1'));
    await until(() => agent.frames.length === 1);
    const first = agent.frames[0]?.event_id as string;
    encode.mockImplementationOnce(() => {
      throw new RangeError('Maximum call stack size exceeded');
    });
    relay.received(agent, reply(first, 'r1'));
    await until(() => agent.frames.length === 2);
    expect(agent.frames[1]).toMatchObject({ type: 'error', code: 'RELAY_UNAVAILABLE', ref: 'r1', event_id: first });
    relay.received(agent, reply(first, 'r2'));
    await until(() => finals(first).length === 1);
    expect(finals(first)[0]).toMatchObject({ type: 'reply', content: 'ok' });

    // the agent says nothing more after the failure: AGENT_TIMEOUT is the one final
    relay.received(app, eventFrame('t2'));
    await until(() => agent.frames.length === 3);
    const second = agent.frames[2]?.event_id as string;
    encode.mockImplementationOnce(() => {
      throw new RangeError('Maximum call stack size exceeded');
    });
    relay.received(agent, reply(second, 'r3'));
    await until(() => finals(second).length === 1, 3_000);
    expect(finals(second)[0]).toMatchObject({ type: 'error', code: 'AGENT_TIMEOUT' });
    await wait(400);
    expect(finals(first)).toHaveLength(1);
    expect(finals(second)).toHaveLength(1);
  } finally {
    encode.mockRestore();
    await relay.drain();
    await backend.close();
  }
});
