import { deliveredEventId, memoryBackend, openAgentAndApp, relayOn, until, wait } from '../testing/in-process';
import { eventToAgent } from './send-to';

// A resend of an in-flight event reports it as assigned again (DeliveryQueue.enqueue), in case
// the node that assigned it died before writing it. On a cluster that copy crosses the bus with
// the event record as the resending node read it, so it can reach the agent's node after the
// agent answered: the node must not write the event a second time (test/cluster/
// recorded-not-queued.test.ts hit this under load). Here the late copy is handed in directly.

test('a late copy of an answered delivery is not written to the agent again; a new attempt is', async () => {
  const backend = memoryBackend();
  const { relay, ctx } = relayOn(backend);
  try {
    const { agent, app } = await openAgentAndApp(relay);
    const eventId = await deliveredEventId(relay, app, agent, 'portal:late:1');
    const stale = await backend.events.get(eventId);
    expect(stale?.finished).toBe(false);

    relay.received(agent, JSON.stringify({ type: 'reply', event_id: eventId, content: 'once', finish_reason: 'stop' }));
    await until(() => app.frames.some((f) => f.type === 'reply'));

    const assignment = { eventId, agentId: 'athena', connId: agent.id, nodeId: 'n1', attempt: 1, seq: 1 };
    await eventToAgent(ctx, assignment, stale!);
    await wait(50);
    expect(agent.frames.filter((f) => f.type === 'event')).toHaveLength(1);

    // Another attempt of the same event is another delivery, and is written.
    await eventToAgent(ctx, { ...assignment, attempt: 2, seq: 2 }, stale!);
    expect(agent.frames.filter((f) => f.type === 'event').map((f) => f.attempt)).toEqual([1, 2]);
  } finally {
    await relay.drain();
    await backend.close();
  }
});
