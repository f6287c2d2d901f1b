import { eventFrame } from '../support/client';
import { clusterPerTest, describeOnStores, waitForStatus } from '../support/cluster';
import { recordFrames, send } from '../support/lifecycle';
import { metricSum, scrape } from '../support/wire-probe';

// The bus series count what crosses between nodes: an app on node 1 and its agent on node 2,
// so every token goes from node 2's bus publisher to node 1's subscriber.

describeOnStores('metrics of a cluster', (store) => {
  const c = clusterPerTest({ store, size: 2 });

  test('tokens relayed across nodes are counted as published by the agent node and received by the app node', async () => {
    const { cluster } = c;
    const agent = await cluster.connect(2, 'athena');
    const app = await cluster.connect(1, 'portal');
    await waitForStatus(app, 'athena', 'online');
    const seen = recordFrames(app);
    const kinds = (text: string, name: string, kind: string) => metricSum(text, name, { kind });
    const [before1, before2] = await Promise.all([scrape(cluster.node(1).httpUrl), scrape(cluster.node(2).httpUrl)]);

    const accepted = await send(app, eventFrame());
    const id = accepted.event_id as string;
    await agent.nextOf('event', id);
    const count = 20;
    for (let i = 0; i < count; i++) agent.send({ type: 'token', event_id: id, token: `t${i}` });
    agent.send({ type: 'reply', event_id: id, content: 'done', finish_reason: 'stop' });
    await app.nextOf('reply', id);
    expect(seen.filter((f) => f.type === 'token')).toHaveLength(count);

    const [after1, after2] = await Promise.all([scrape(cluster.node(1).httpUrl), scrape(cluster.node(2).httpUrl)]);
    const delta = (after: string, before: string, name: string, kind: string) => kinds(after, name, kind) - kinds(before, name, kind);
    // node 2 (the agent's) published every token to node 1 and received none
    expect(delta(after2, before2, 'relay_bus_published_total', 'app-token')).toBe(count);
    expect(delta(after2, before2, 'relay_bus_received_total', 'app-token')).toBe(0);
    expect(delta(after1, before1, 'relay_bus_received_total', 'app-token')).toBe(count);
    expect(delta(after1, before1, 'relay_bus_published_total', 'app-token')).toBe(0);
    // and the final crossed the same way, once
    expect(delta(after2, before2, 'relay_bus_published_total', 'app-final')).toBe(1);
    expect(delta(after1, before1, 'relay_bus_received_total', 'app-final')).toBe(1);
    // the event was accepted on node 1: time to first token and to reply are the agent node's
    expect(metricSum(after2, 'relay_time_to_reply_seconds_count', { agent: 'athena' }) - metricSum(before2, 'relay_time_to_reply_seconds_count', { agent: 'athena' })).toBe(1);
    expect(metricSum(after1, 'relay_time_to_reply_seconds_count', { agent: 'athena' }) - metricSum(before1, 'relay_time_to_reply_seconds_count', { agent: 'athena' })).toBe(0);
    // the queue is the cluster's: both nodes read the same depth
    expect(metricSum(after1, 'relay_events_waiting', { agent: 'athena' })).toBe(0);
    expect(metricSum(after2, 'relay_events_waiting', { agent: 'athena' })).toBe(0);
  });

  test('events waiting for an offline agent read the same on every node', async () => {
    const { cluster } = c;
    const app = await cluster.connect(1, 'portal');
    for (const ref of ['a', 'b', 'c']) expect(await send(app, eventFrame({ ref }))).toMatchObject({ type: 'accepted', queued: true });
    for (const node of cluster.nodes) expect(metricSum(await scrape(node.httpUrl), 'relay_events_waiting', { agent: 'athena' })).toBe(3);
  });
});
