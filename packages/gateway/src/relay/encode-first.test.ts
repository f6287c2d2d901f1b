import * as outbound from './outbound';
import { memoryBackend, openAgentAndApp, relayOn, until, wait } from '../testing/in-process';

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
    const { agent, app } = await openAgentAndApp(relay);
    const reply = (eventId: string, ref: string) =>
      JSON.stringify({ type: 'reply', event_id: eventId, content: 'ok', finish_reason: 'stop', ref });
    const finals = (eventId: string) => app.frames.filter((f) => f.event_id === eventId && (f.type === 'reply' || f.type === 'error'));

    /** An event delivered to the agent, whose first reply the encoder fails on. */
    const failedReply = async (thread: string): Promise<string> => {
      const delivered = agent.frames.length;
      relay.received(app, JSON.stringify({ type: 'event', agent_id: 'athena', thread_id: `portal:${thread}`, payload: {} }));
      await until(() => agent.frames.length === delivered + 1);
      const eventId = agent.frames[delivered]?.event_id as string;
      encode.mockImplementationOnce(() => {
        throw new RangeError('Maximum call stack size exceeded');
      });
      relay.received(agent, reply(eventId, `${thread}-failed`));
      await until(() => agent.frames.length === delivered + 2);
      expect(agent.frames[delivered + 1]).toMatchObject({ type: 'error', code: 'RELAY_UNAVAILABLE', ref: `${thread}-failed`, event_id: eventId });
      return eventId;
    };

    // the agent answers again: its second reply is the one final
    const answered = await failedReply('t1');
    relay.received(agent, reply(answered, 'again'));
    await until(() => finals(answered).length === 1);
    expect(finals(answered)[0]).toMatchObject({ type: 'reply', content: 'ok' });

    // the agent says nothing more: AGENT_TIMEOUT is the one final
    const silent = await failedReply('t2');
    await until(() => finals(silent).length === 1, 3_000);
    expect(finals(silent)[0]).toMatchObject({ type: 'error', code: 'AGENT_TIMEOUT' });

    await wait(400);
    expect(finals(answered)).toHaveLength(1);
    expect(finals(silent)).toHaveLength(1);
  } finally {
    encode.mockRestore();
    await relay.drain();
    await backend.close();
  }
});
