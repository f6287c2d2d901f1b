import { eventFrame } from '../support/client';
import { clusterPerTest, describeOnStores, discoverStatus, waitForStatus } from '../support/cluster';
import { finalsFor, recordFrames, send, sleep } from '../support/lifecycle';

// Three gateway processes on one redis-server act as one relay: an app on one node talks to an
// agent on another, and every node sees who is connected anywhere.

describeOnStores('routing across nodes', (store) => {
  const c = clusterPerTest({ store });

  describe('an app and an agent on different nodes', () => {
    test('event, 50 tokens in order, and one reply with its content and metadata', async () => {
      const { cluster } = c;
      const agent = await cluster.connect(3, 'athena');
      const app = await cluster.connect(1, 'portal');
      await waitForStatus(app, 'athena', 'online');
      const seen = recordFrames(app);

      const payload = { event: 'comment.mention', task_id: 'task-123', nested: { list: [1, 'two', null] } };
      const accepted = await send(app, eventFrame({ payload }));
      expect(accepted).toMatchObject({ type: 'accepted', queued: false, session_key: 'relay:athena:portal:task-123' });
      const id = accepted.event_id as string;

      const event = await agent.nextOf('event', id);
      expect(event).toMatchObject({ app_id: 'portal', agent_id: 'athena', attempt: 1, payload });

      const pieces = Array.from({ length: 50 }, (_, i) => `t${i} `);
      for (const token of pieces) agent.send({ type: 'token', event_id: id, token });
      agent.send({
        type: 'reply',
        event_id: id,
        content: pieces.join(''),
        finish_reason: 'stop',
        metadata: { model: 'test-model', tokens_used: 7 },
      });

      const reply = await app.nextOf('reply', id);
      const tokens = seen.filter((f) => f.type === 'token' && f.event_id === id);
      expect(tokens.map((t) => t.seq)).toEqual(pieces.map((_, i) => i));
      expect(tokens.map((t) => t.token).join('')).toBe(pieces.join(''));
      expect(tokens.every((t) => t.agent_id === 'athena')).toBe(true);
      expect(reply).toMatchObject({
        agent_id: 'athena',
        thread_id: 'portal:task-123:comment-456',
        content: pieces.join(''),
        reply: pieces.join(''),
        finish_reason: 'stop',
        payload, // the agent did not echo it: the relay fills in the original
        metadata: { model: 'test-model', tokens_used: 7 },
      });
      expect(typeof reply.metadata.latency_ms).toBe('number');
      // every token came before the reply
      expect(seen.findIndex((f) => f.type === 'reply')).toBe(seen.length - 1);

      await sleep(200);
      expect(finalsFor(seen, id)).toHaveLength(1);
      expect(agent.frames.filter((f) => f.type === 'error')).toEqual([]);
    });

    test('several apps and agents spread over the nodes each get only their own frames', async () => {
      const { cluster } = c;
      const athena = await cluster.connect(2, 'athena');
      const klyve = await cluster.connect(3, 'klyve');
      const portal = await cluster.connect(1, 'portal');
      const flow = await cluster.connect(3, 'flow');
      await waitForStatus(portal, 'klyve', 'online');
      await waitForStatus(flow, 'athena', 'online');

      const toKlyve = await send(portal, eventFrame({ agent_id: 'klyve', thread_id: 'portal:plan:1' }));
      const fromFlow = await send(flow, eventFrame({ thread_id: 'flow:run:1' }));
      const atKlyve = await klyve.nextOf('event', toKlyve.event_id);
      const atAthena = await athena.nextOf('event', fromFlow.event_id);
      expect(atKlyve.app_id).toBe('portal');
      expect(atAthena.app_id).toBe('flow');

      klyve.send({ type: 'token', event_id: toKlyve.event_id, token: 'plan' });
      athena.send({ type: 'token', event_id: fromFlow.event_id, token: 'run' });
      klyve.send({ type: 'reply', event_id: toKlyve.event_id, content: 'plan', finish_reason: 'stop' });
      athena.send({ type: 'reply', event_id: fromFlow.event_id, content: 'run', finish_reason: 'stop' });

      expect(await portal.nextOf('reply', toKlyve.event_id)).toMatchObject({ agent_id: 'klyve', content: 'plan' });
      expect(await flow.nextOf('reply', fromFlow.event_id)).toMatchObject({ agent_id: 'athena', content: 'run' });
      await sleep(200);
      expect(portal.frames.filter((f) => f.event_id === fromFlow.event_id)).toEqual([]);
      expect(flow.frames.filter((f) => f.event_id === toKlyve.event_id)).toEqual([]);
      expect(athena.frames.filter((f) => f.type === 'event')).toEqual([]);
      expect(klyve.frames.filter((f) => f.type === 'event')).toEqual([]);
    });
  });

  describe('presence across nodes', () => {
    test('discover on any node shows an agent connected to any other node', async () => {
      const { cluster } = c;
      const apps = [await cluster.connect(1, 'portal'), await cluster.connect(2, 'portal'), await cluster.connect(3, 'portal')];
      for (const app of apps) expect(await discoverStatus(app)).toEqual({ athena: 'offline', klyve: 'offline' });

      const athena = await cluster.connect(1, 'athena');
      const klyve = await cluster.connect(3, 'klyve');
      for (const app of apps) {
        await waitForStatus(app, 'athena', 'online');
        await waitForStatus(app, 'klyve', 'online');
      }
      // A second connection of athena on another node: closing one leaves it online.
      const athena2 = await cluster.connect(2, 'athena');
      await sleep(100);
      await athena.close();
      await sleep(300);
      for (const app of apps) expect((await discoverStatus(app)).athena).toBe('online');

      await athena2.close();
      await klyve.close();
      for (const app of apps) {
        await waitForStatus(app, 'athena', 'offline');
        await waitForStatus(app, 'klyve', 'offline');
      }
    });

    test('an agent that disconnects abruptly turns offline on every node', async () => {
      const { cluster } = c;
      const apps = [await cluster.connect(1, 'portal'), await cluster.connect(2, 'portal'), await cluster.connect(3, 'portal')];
      const agent = await cluster.connect(2, 'athena');
      for (const app of apps) await waitForStatus(app, 'athena', 'online');
      agent.ws.terminate(); // no closing handshake
      await agent.closed;
      for (const app of apps) await waitForStatus(app, 'athena', 'offline');
    });
  });
});
