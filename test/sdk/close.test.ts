/**
 * `close()` leaves nothing behind: no socket, no timer, no pending promise keeping Node alive.
 * Counted with process.getActiveResourcesInfo() against a baseline taken with the relay running.
 */
import net from 'node:net';
import { createAgentClient, createAppClient } from '@relay/sdk';
import { backendsUnderTest } from '../support/backends';
import { useRelay } from '../support/relay-fixture';
import { sleep, until } from './support/sdk-helpers';

/** Active handles by kind, without the ones that belong to the test harness itself. */
function handles(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

/** Waits for the event loop to let go of what was closed (socket close callbacks run a tick later). */
async function settled(baseline: Record<string, number>): Promise<Record<string, number>> {
  await until(() => JSON.stringify(handles()) === JSON.stringify(baseline), 3_000, 'handles back to the baseline').catch(() => undefined);
  return handles();
}

describe.each(backendsUnderTest())('close() leaves no open handles ($name backend)', (backend) => {
  const suite = useRelay(backend);

  test('after a full exchange (heartbeats on, a cancelled handler, a streamed reply)', async () => {
    await sleep(50);
    const baseline = handles();
    const agent = createAgentClient({ url: suite.relay.url, token: suite.tokens.athena, heartbeat: { intervalMs: 50, timeoutMs: 1_000 } });
    agent.onEvent(async (event, reply) => {
      if ((event.payload as { hang?: boolean }).hang) {
        // a handler with its own timer, which it clears when aborted
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 60_000);
          reply.signal.addEventListener('abort', () => {
            clearTimeout(timer);
            resolve();
          });
        });
        return;
      }
      reply.token('x');
      return reply.done('x');
    });
    const app = createAppClient({ url: suite.relay.url, token: suite.tokens.portal, heartbeat: { intervalMs: 50, timeoutMs: 1_000 } });
    await agent.opened();
    const answered = await app.send('athena', 'portal:close-1', {});
    await answered.reply;
    const hanging = await app.send('athena', 'portal:close-2', { hang: true });
    await sleep(150); // several heartbeats
    expect(handles().TCPSocketWrap).toBeGreaterThanOrEqual((baseline.TCPSocketWrap ?? 0) + 2);

    await Promise.all([app.close(), agent.close()]);
    await expect(hanging.reply).rejects.toMatchObject({ code: 'CLOSED' });
    expect(await settled(baseline)).toEqual(baseline);
  });

  test('while connecting, and while waiting to reconnect', async () => {
    await sleep(50);
    const baseline = handles();
    const connecting = createAppClient({ url: suite.relay.url, token: suite.tokens.portal });
    await connecting.close();

    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    const retrying = createAgentClient({ url: `ws://127.0.0.1:${port}`, token: suite.tokens.athena, backoff: { initialMs: 10_000 } });
    await until(() => retrying.state === 'reconnecting', 3_000, 'a failed attempt');
    await retrying.close();
    expect(connecting.state).toBe('closed');
    expect(retrying.state).toBe('closed');
    expect(await settled(baseline)).toEqual(baseline);
  });
});
