import { webhookHeaders } from '@relay/protocol';
import { createHttpAgentHandler } from './http-agent-handler';

const secret = `whsec_${Buffer.alloc(24, 7).toString('base64')}`;
const event = {
  type: 'event', event_id: 'evt_0handler', agent_id: 'athena', app_id: 'portal', thread_id: 't', session_key: 's',
  payload: { message: 'hi' }, attempt: 1, created_at: new Date().toISOString(),
};

async function signed(frame: object, key = secret): Promise<Request> {
  const body = JSON.stringify(frame);
  return new Request('http://agent.test/', { method: 'POST', body, headers: await webhookHeaders(key, 'evt_0handler.1', body) });
}

async function lines(res: Response): Promise<Record<string, unknown>[]> {
  return (await res.text()).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('createHttpAgentHandler', () => {
  test('streams a token line per reply.token(), then the reply line, as NDJSON', async () => {
    const handler = createHttpAgentHandler(secret, (e, reply) => {
      reply.token('a');
      reply.token('b');
      return reply.done(`ab for ${e.app_id}`);
    });
    const res = await handler(await signed(event));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-ndjson');
    expect(await lines(res)).toEqual([
      { type: 'token', token: 'a' },
      { type: 'token', token: 'b' },
      { type: 'reply', event_id: 'evt_0handler', content: 'ab for portal', finish_reason: 'stop' },
    ]);
  });

  test('a handler that throws answers finish_reason "error" with its message', async () => {
    const handler = createHttpAgentHandler(secret, () => {
      throw new Error('model unavailable');
    });
    expect(await lines(await handler(await signed(event)))).toEqual([
      { type: 'reply', event_id: 'evt_0handler', content: null, finish_reason: 'error', error: 'model unavailable' },
    ]);
  });

  test('a request signed with another secret is 401 and runs nothing', async () => {
    let ran = false;
    const handler = createHttpAgentHandler(secret, () => {
      ran = true;
    });
    const res = await handler(await signed(event, `whsec_${Buffer.alloc(24, 9).toString('base64')}`));
    expect(res.status).toBe(401);
    expect(ran).toBe(false);
  });

  test('a signed cancel for an event running here fires reply.signal', async () => {
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const handler = createHttpAgentHandler(secret, async (_e, reply) => {
      started();
      await new Promise((resolve) => reply.signal.addEventListener('abort', resolve));
      return reply.done('never sent');
    });
    const answer = handler(await signed(event));
    const body = (await answer).text();
    await running;
    expect((await handler(await signed({ type: 'cancel', event_id: 'evt_0handler' }))).status).toBe(204);
    expect(await body).toBe('');
  });
});
