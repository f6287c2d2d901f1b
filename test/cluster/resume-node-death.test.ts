import { eventFrame } from '../support/client';
import { clusterPerTest, describeOnStores } from '../support/cluster';
import { range, send, untilFinal } from '../support/lifecycle';

// `resume` across the death of a node (issue 15): the app's node, SIGKILLed mid-stream, or the
// agent's, whose event is then redelivered as a new attempt. Either way the app, reconnected to
// another node, gets every token of the current attempt after what it holds, once and in order.

const NODE_TTL_MS = 1_500;
const NOTICED_MS = NODE_TTL_MS + 6_000;

describeOnStores('resume after a node died', (store) => {
  const c = clusterPerTest({ store, env: { RELAY_NODE_TTL_MS: String(NODE_TTL_MS) } });

  test("the app's node is killed mid-stream: resumed on another node, no token is lost or doubled", async () => {
    const { cluster } = c;
    const app = await cluster.connect(1, 'portal');
    const agent = await cluster.connect(3, 'athena');
    const id = (await send(app, eventFrame())).event_id as string;
    await agent.nextOf('event', id);
    for (let i = 0; i < 10; i++) agent.send({ type: 'token', event_id: id, token: `t${i} ` });
    const held = await app.next((f) => f.type === 'token' && f.seq === 4);

    expect(await cluster.node(1).stop('SIGKILL')).toBe('SIGKILL');
    await app.closed;
    // the agent goes on while the app has no connection: these tokens reach no socket
    for (let i = 10; i < 20; i++) agent.send({ type: 'token', event_id: id, token: `t${i} ` });

    const again = await cluster.connect(2, 'portal');
    again.send({ type: 'resume', event_id: id, attempt: held.attempt, after_seq: held.seq });
    expect(await again.nextOf('resumed', id, NOTICED_MS)).toMatchObject({ attempt: 1, from_seq: 5 });
    for (let i = 20; i < 30; i++) agent.send({ type: 'token', event_id: id, token: `t${i} ` });
    const content = range(0, 29).map((i) => `t${i} `).join('');
    agent.send({ type: 'reply', event_id: id, content, finish_reason: 'stop' });

    const { tokens, final } = await untilFinal(again, id, NOTICED_MS);
    expect(tokens.map((t) => t.seq)).toEqual(range(5, 29));
    expect(tokens.every((t) => t.token === `t${t.seq} `)).toBe(true);
    expect(final).toMatchObject({ type: 'reply', content });
  }, 30_000);

  test("the agent's node is killed: the resume names the redelivery's attempt and starts at its seq 0", async () => {
    const { cluster } = c;
    const app = await cluster.connect(1, 'portal');
    const agent = await cluster.connect(3, 'athena');
    const id = (await send(app, eventFrame())).event_id as string;
    await agent.nextOf('event', id);
    for (let i = 0; i < 3; i++) agent.send({ type: 'token', event_id: id, token: `old${i}` });
    await app.next((f) => f.type === 'token' && f.seq === 2);

    expect(await cluster.node(3).stop('SIGKILL')).toBe('SIGKILL');
    const successor = await cluster.connect(2, 'athena');
    expect(await successor.nextOf('event', id, NOTICED_MS)).toMatchObject({ attempt: 2 });
    successor.send({ type: 'token', event_id: id, token: 'new0' });
    successor.send({ type: 'token', event_id: id, token: 'new1' });
    await app.next((f) => f.type === 'token' && f.attempt === 2 && f.seq === 1);

    // the app lost its connection too, and holds seq 2 of attempt 1 as its latest token
    await app.close();
    const again = await cluster.connect(2, 'portal');
    again.send({ type: 'resume', event_id: id, attempt: 1, after_seq: 2 });
    expect(await again.nextOf('resumed', id)).toMatchObject({ attempt: 2, from_seq: 0 });
    successor.send({ type: 'token', event_id: id, token: 'new2' });
    successor.send({ type: 'reply', event_id: id, content: 'new0new1new2', finish_reason: 'stop' });
    const { tokens, final } = await untilFinal(again, id, NOTICED_MS);
    expect(tokens.map((t) => [t.attempt, t.seq, t.token])).toEqual([
      [2, 0, 'new0'],
      [2, 1, 'new1'],
      [2, 2, 'new2'],
    ]);
    expect(final).toMatchObject({ type: 'reply', content: 'new0new1new2' });
  }, 30_000);
});
