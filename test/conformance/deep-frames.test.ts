import { ErrorCode, MAX_NESTING_DEPTH } from '@relay/protocol';
import { backendsUnderTest } from '../support/backends';
import { eventFrame } from '../support/client';
import { finalsFor, recordFrames, send, sleep } from '../support/lifecycle';
import { useRelay } from '../support/relay-fixture';

// Issue 11 item 2: a reply whose metadata nested ~5,000 levels (10 KB) once broke the encoding of
// the app's reply after the event was marked answered: the agent got RELAY_UNAVAILABLE, its
// retry UNKNOWN_EVENT, and the event never got a final. Such a frame is now refused as it is
// parsed, and the event stays the agent's: whatever a frame holds, the event ends with one final.

const REPLY_TIMEOUT_MS = 400;

/** `levels` objects nested in each other: `{"a":{"a":…{}}}`. */
const nested = (levels: number) => '{"a":'.repeat(levels - 1) + '{}' + '}'.repeat(levels - 1);

const deepReply = (eventId: string, levels: number) =>
  `{"type":"reply","event_id":"${eventId}","ref":"deep","content":"hi","finish_reason":"stop","metadata":${nested(levels)}}`;

describe.each(backendsUnderTest())('frames nested too deep ($name backend)', (backend) => {
  const r = useRelay(backend, { perTest: true, env: { RELAY_REPLY_TIMEOUT_MS: String(REPLY_TIMEOUT_MS) } });

  test.each([MAX_NESTING_DEPTH, 5_000])(
    'a reply with metadata %d levels deep is INVALID_MESSAGE; the event stays the agent’s and its reply is the one final',
    async (levels) => {
      const agent = await r.connect('athena');
      const app = await r.connect('portal');
      const seen = recordFrames(app);
      const accepted = await send(app, eventFrame());
      await agent.nextOf('event', accepted.event_id);

      agent.send(deepReply(accepted.event_id, levels));
      expect(await agent.nextOf('error', accepted.event_id)).toMatchObject({
        code: ErrorCode.INVALID_MESSAGE,
        ref: 'deep',
        event_id: accepted.event_id,
      });

      agent.send({ type: 'reply', event_id: accepted.event_id, content: 'done', finish_reason: 'stop' });
      expect(await app.nextOf('reply', accepted.event_id)).toMatchObject({ content: 'done' });
      await sleep(REPLY_TIMEOUT_MS + 200);
      expect(finalsFor(seen, accepted.event_id)).toHaveLength(1);
    },
  );

  test('an agent that goes silent after a refused deep reply: the app gets AGENT_TIMEOUT, its one final', async () => {
    const agent = await r.connect('athena');
    const app = await r.connect('portal');
    const seen = recordFrames(app);
    const accepted = await send(app, eventFrame());
    await agent.nextOf('event', accepted.event_id);

    agent.send(deepReply(accepted.event_id, 5_000));
    expect(await agent.nextOf('error', accepted.event_id)).toMatchObject({ code: ErrorCode.INVALID_MESSAGE });

    expect(await app.nextOf('error', accepted.event_id, 5_000)).toMatchObject({ code: ErrorCode.AGENT_TIMEOUT });
    expect(await agent.nextOf('cancel', accepted.event_id)).toEqual({ type: 'cancel', event_id: accepted.event_id });
    await sleep(200);
    expect(finalsFor(seen, accepted.event_id)).toHaveLength(1);
  });
});
