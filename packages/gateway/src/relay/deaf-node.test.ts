import { deliveredEventId, fakeConnection, memoryBackend, relayOn, until, wait } from '../testing/in-process';

// A node whose bus subscriber went deaf (after a Redis Cluster failover, say) is alive: nobody
// reaps it, so nothing hands back the events assigned to its agent sockets meanwhile. Until its
// probe replaces the subscriber, an event sent to it is heard by nobody; it must be sent again,
// not left waiting for ever. Two nodes share one memory backend; the agent socket is on n2, and
// n2 hears nothing for its first deliveries.
test('an event for an agent socket on a node that was briefly deaf reaches it once the node hears again', async () => {
  const backend = memoryBackend();
  let deafFor = 2;
  const publish = backend.bus.publish.bind(backend.bus);
  const handlers: Array<(nodeId: string, message: Parameters<typeof publish>[1]) => void> = [];
  const onUndelivered = backend.bus.onUndelivered.bind(backend.bus);
  backend.bus.onUndelivered = (handler) => {
    handlers.push(handler);
    onUndelivered(handler);
  };
  backend.bus.publish = async (nodeId, message) => {
    if (nodeId === 'n2' && message.kind === 'deliver' && deafFor > 0) {
      deafFor -= 1;
      // what a Redis bus does when SPUBLISH reaches no subscriber
      for (const handler of handlers) queueMicrotask(() => handler(nodeId, message));
      return;
    }
    await publish(nodeId, message);
  };
  const n1 = relayOn(backend, { nodeTtlMs: 300 }, 'n1');
  const n2 = relayOn(backend, { nodeTtlMs: 300 }, 'n2');
  try {
    const agent = fakeConnection('n2.1', 'agent', 'athena');
    n2.relay.opened(agent);
    const app = fakeConnection('n1.1', 'app', 'portal');
    n1.relay.opened(app);
    await wait(50);
    const id = await deliveredEventId(n1.relay, app, agent, 'portal:deaf');
    expect(deafFor).toBe(0);
    n2.relay.received(agent, JSON.stringify({ type: 'reply', event_id: id, content: 'heard', finish_reason: 'stop' }));
    await until(() => app.frames.some((f) => f.type === 'reply'));
    expect(agent.frames.filter((f) => f.type === 'event')).toHaveLength(1);
  } finally {
    await n2.relay.drain();
    await n1.relay.drain();
    await backend.close();
  }
});
