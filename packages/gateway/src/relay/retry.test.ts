import type { Task } from '../ports';
import { fakeConnection, memoryBackend, relayOn, wait } from '../testing/in-process';
import { retryDelay } from './retry';

const settle = () => wait(20);

describe('retry: the safety-net pump of waiting events', () => {
  test('backs off exponentially while events wait, and stops once none do', async () => {
    const backend = memoryBackend();
    // Record scheduled retries instead of running them, so the test drives time itself.
    const scheduled: { time: number; task: Task }[] = [];
    const at = backend.scheduler.at.bind(backend.scheduler);
    let handler: ((task: Task) => Promise<void>) | undefined;
    backend.scheduler.at = async (time, task) => {
      if (task.kind === 'retry') scheduled.push({ time, task });
      else await at(time, task);
    };
    const onDue = backend.scheduler.onDue.bind(backend.scheduler);
    backend.scheduler.onDue = (h) => {
      handler = h;
      onDue(h);
    };
    const { relay } = relayOn(backend, { maxTtlMs: 3_600_000, nodeTtlMs: 10_000 });
    await settle();

    const app = fakeConnection('n1.1', 'app', 'portal');
    relay.opened(app);
    relay.received(app, JSON.stringify({ type: 'event', agent_id: 'athena', thread_id: 't-1', payload: 1 }));
    await settle();
    expect(app.frames[0]).toMatchObject({ type: 'accepted', queued: true });
    expect(scheduled.map((s) => s.task)).toEqual([{ kind: 'retry', agentId: 'athena', attempt: 1 }]);

    // Still waiting (no agent): the next retry comes twice as late.
    const before = Date.now();
    await handler?.({ kind: 'retry', agentId: 'athena', attempt: 1 });
    expect(scheduled[1]?.task).toEqual({ kind: 'retry', agentId: 'athena', attempt: 2 });
    expect((scheduled[1]?.time as number) - before).toBeGreaterThanOrEqual(retryDelay(2) - 5);
    expect(retryDelay(2)).toBe(2 * retryDelay(1));

    // The agent connects: the event goes at once, not at the next retry; that retry then stops.
    const agent = fakeConnection('n1.2', 'agent', 'athena');
    relay.opened(agent);
    await settle();
    expect(agent.frames[0]).toMatchObject({ type: 'event', attempt: 1 });
    await handler?.({ kind: 'retry', agentId: 'athena', attempt: 2 });
    expect(scheduled).toHaveLength(2);

    await relay.drain();
    await backend.close();
  });

  test('the delay doubles up to a minute', () => {
    expect([1, 2, 3, 4].map(retryDelay)).toEqual([2_000, 4_000, 8_000, 16_000]);
    expect(retryDelay(30)).toBe(60_000);
  });
});
