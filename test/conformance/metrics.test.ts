import { backendsUnderTest } from '../support/backends';
import { eventFrame } from '../support/client';
import { send } from '../support/lifecycle';
import { useRelay } from '../support/relay-fixture';
import { eventually, metricSum, scrape } from '../support/wire-probe';

// The latency, queue and bus series move with real traffic, by the amounts the traffic implies.
// Single node: this suite reads one node's /metrics. Bus traffic between two nodes is pinned in
// test/cluster/metrics.test.ts, relay_redis_up going to 0 in test/cluster/redis-unavailable.

describe.each(backendsUnderTest({ singleNode: true }))('metrics under traffic ($name backend)', (backend) => {
  // A short node TTL makes the liveness probe (a third of it) go round often.
  const r = useRelay(backend, { env: { RELAY_NODE_TTL_MS: '1500' } });
  const metrics = () => scrape(r.relay.httpUrl);

  test('an event waiting for its agent, then delivered, streamed and answered, moves every event series', async () => {
    const app = await r.connect('portal');
    const before = await metrics();
    const delta = (after: string, name: string, labels: Record<string, string> = {}) =>
      metricSum(after, name, labels) - metricSum(before, name, labels);
    const waiting = async () => metricSum(await metrics(), 'relay_events_waiting', { agent: 'athena' });
    expect(await waiting()).toBe(0);

    const started = Date.now();
    const accepted = await send(app, eventFrame({ ref: 'w' }));
    expect(accepted).toMatchObject({ type: 'accepted', queued: true });
    expect(await waiting()).toBe(1);

    const agent = await r.connect('athena');
    const event = await agent.nextOf('event', accepted.event_id);
    expect(await eventually(waiting, 0)).toBe(0);
    for (const token of ['a', 'b', 'c']) agent.send({ type: 'token', event_id: event.event_id, token });
    agent.send({ type: 'reply', event_id: event.event_id, content: 'abc', finish_reason: 'stop' });
    await app.nextOf('reply', accepted.event_id);
    const elapsed = (Date.now() - started) / 1000;

    const after = await metrics();
    expect(delta(after, 'relay_events_accepted_total', { agent: 'athena' })).toBe(1);
    expect(delta(after, 'relay_deliveries_total', { attempt: '1' })).toBe(1);
    expect(delta(after, 'relay_tokens_relayed_total')).toBe(3);
    expect(delta(after, 'relay_events_finished_total', { outcome: 'reply_stop' })).toBe(1);
    expect(delta(after, 'relay_delivery_latency_seconds_count')).toBe(1);
    expect(delta(after, 'relay_time_to_first_token_seconds_count', { agent: 'athena' })).toBe(1);
    expect(delta(after, 'relay_time_to_reply_seconds_count', { agent: 'athena' })).toBe(1);
    // Each is measured from the accept: more than nothing (the event waited for its agent), and
    // no more than the test saw pass from sending it to reading the reply.
    for (const name of ['relay_delivery_latency_seconds_sum', 'relay_time_to_first_token_seconds_sum', 'relay_time_to_reply_seconds_sum']) {
      expect([name, delta(after, name) > 0]).toEqual([name, true]);
      expect([name, delta(after, name) <= elapsed]).toEqual([name, true]);
    }
    // in order: delivered, then first token, then reply
    const sum = (name: string) => delta(after, `${name}_sum`);
    expect(sum('relay_delivery_latency_seconds')).toBeLessThanOrEqual(sum('relay_time_to_first_token_seconds'));
    expect(sum('relay_time_to_first_token_seconds')).toBeLessThanOrEqual(sum('relay_time_to_reply_seconds'));
    // the bucket at +Inf holds every observation; the smallest bucket is cumulative below it
    expect(delta(after, 'relay_time_to_reply_seconds_bucket', { agent: 'athena', le: '+Inf' })).toBe(1);
  });

  test('events waiting are counted per agent, and an agent with none reads 0', async () => {
    const app = await r.connect('portal');
    const first = await send(app, eventFrame({ ref: 'a', agent_id: 'athena' }));
    const second = await send(app, eventFrame({ ref: 'b', agent_id: 'athena' }));
    expect([first.queued, second.queued]).toEqual([true, true]);
    const text = await metrics();
    expect(metricSum(text, 'relay_events_waiting', { agent: 'athena' })).toBe(2);
    expect(text).toMatch(/^relay_events_waiting\{agent="klyve"\} 0$/m);

    // an agent that connects takes them: the gauge reads the queue, so it follows at once
    const agent = await r.connect('athena');
    await agent.nextOf('event', first.event_id);
    await agent.nextOf('event', second.event_id);
    expect(metricSum(await metrics(), 'relay_events_waiting', { agent: 'athena' })).toBe(0);
    for (const id of [first.event_id, second.event_id]) agent.send({ type: 'reply', event_id: id, content: 'ok', finish_reason: 'stop' });
    await app.nextOf('reply', first.event_id);
    await app.nextOf('reply', second.event_id);
  });

  test("the liveness probe's round trip through the bus is counted and timed", async () => {
    const before = await metrics();
    const count = async () => metricSum(await metrics(), 'relay_bus_roundtrip_seconds_count');
    const start = metricSum(before, 'relay_bus_roundtrip_seconds_count');
    // a probe every 500 ms at this TTL: two more within a few seconds
    expect(await eventually(async () => (await count()) >= start + 2, true, 10_000)).toBe(true);
    const after = await metrics();
    const probes = (text: string, name: string) => metricSum(text, name, { kind: 'probe' });
    expect(probes(after, 'relay_bus_published_total') - probes(before, 'relay_bus_published_total')).toBeGreaterThanOrEqual(2);
    expect(probes(after, 'relay_bus_received_total') - probes(before, 'relay_bus_received_total')).toBeGreaterThanOrEqual(2);
    // every probe that came back was published first
    expect(probes(after, 'relay_bus_received_total')).toBeLessThanOrEqual(probes(after, 'relay_bus_published_total'));
  });

  if (backend.name === 'redis' || backend.name === 'redis-cluster') {
    test('Redis is up, and its commands are timed by command and by script name', async () => {
      const app = await r.connect('portal');
      const before = await metrics();
      expect(metricSum(before, 'relay_redis_up')).toBe(1);
      const accepted = await send(app, eventFrame({ ref: 'r' }));
      expect(accepted.type).toBe('accepted');
      const after = await metrics();
      const delta = (labels: Record<string, string>) =>
        metricSum(after, 'relay_redis_command_duration_seconds_count', labels) -
        metricSum(before, 'relay_redis_command_duration_seconds_count', labels);
      // accepting records the event, counts it against the app's rate and queues it: on one
      // primary one script does it all; on a cluster plain commands record it, and a script
      // each counts and queues it
      if (backend.name === 'redis') {
        expect(delta({ command: 'script:acceptEvent' })).toBeGreaterThanOrEqual(1);
      } else {
        expect(delta({ command: 'hset' })).toBeGreaterThanOrEqual(1);
        expect(delta({ command: 'script:admitEvent' })).toBeGreaterThanOrEqual(1);
        expect(delta({ command: 'script:enqueue' })).toBeGreaterThanOrEqual(1);
      }
      expect(after).not.toMatch(/command="evalsha"/);
      expect(after).not.toMatch(/command="script:unknown"/);
    });
  } else {
    test('a node on the memory backend has no Redis series', async () => {
      const text = await metrics();
      expect(text).not.toMatch(/^relay_redis_/m);
      expect(text).toMatch(/^relay_events_waiting\{agent="athena"\} \d+$/m);
    });
  }
});

describe.each(backendsUnderTest({ singleNode: true }))('metrics of events that end badly ($name backend)', (backend) => {
  const r = useRelay(backend, { perTest: true, env: { RELAY_REPLY_TIMEOUT_MS: '1500' } });
  const metrics = () => scrape(r.relay.httpUrl);

  test('an expiry, a redelivery, a timeout and a cancel each move their series once', async () => {
    const app = await r.connect('portal');
    const before = await metrics();
    const delta = (after: string, name: string, labels: Record<string, string>) =>
      metricSum(after, name, labels) - metricSum(before, name, labels);

    // expired: waits past its ttl_ms for an agent that never comes
    const expiring = await send(app, eventFrame({ ref: 'x', ttl_ms: 200, thread_id: 'portal:expiring' }));
    expect(await app.nextOf('error', expiring.event_id, 5_000)).toMatchObject({ code: 'EVENT_EXPIRED' });

    // redelivered: its first connection drops it unanswered; then it times out at the second
    const first = await r.connect('athena');
    const dropped = await send(app, eventFrame({ ref: 'd', thread_id: 'portal:dropped' }));
    await first.nextOf('event', dropped.event_id);
    await first.close();
    const second = await r.connect('athena');
    expect(await second.nextOf('event', dropped.event_id)).toMatchObject({ attempt: 2 });
    expect(await app.nextOf('error', dropped.event_id, 5_000)).toMatchObject({ code: 'AGENT_TIMEOUT' });

    // cancelled by its app while it waits for klyve, who is offline
    const cancelled = await send(app, eventFrame({ ref: 'c', agent_id: 'klyve', thread_id: 'portal:cancelled' }));
    app.send({ type: 'cancel', event_id: cancelled.event_id });
    expect(await app.nextOf('error', cancelled.event_id)).toMatchObject({ code: 'CANCELLED' });

    const after = await metrics();
    expect(delta(after, 'relay_events_finished_total', { outcome: 'EVENT_EXPIRED' })).toBe(1);
    expect(delta(after, 'relay_events_finished_total', { outcome: 'AGENT_TIMEOUT' })).toBe(1);
    expect(delta(after, 'relay_events_finished_total', { outcome: 'CANCELLED' })).toBe(1);
    expect(delta(after, 'relay_deliveries_total', { attempt: '1' })).toBe(1);
    expect(delta(after, 'relay_deliveries_total', { attempt: 'retry' })).toBe(1);
    expect(delta(after, 'relay_events_accepted_total', { agent: 'athena' })).toBe(2);
    expect(delta(after, 'relay_events_accepted_total', { agent: 'klyve' })).toBe(1);
    // none was answered: no reply latency; both deliveries were timed
    expect(delta(after, 'relay_time_to_reply_seconds_count', {})).toBe(0);
    expect(delta(after, 'relay_delivery_latency_seconds_count', {})).toBe(2);
  });
});
