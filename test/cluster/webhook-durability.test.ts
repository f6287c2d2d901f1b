import { eventFrame, type Frame } from '../support/client';
import { ADMIN_TOKEN, adminApi } from '../support/admin';
import { startCluster, type Cluster } from '../support/cluster';
import { send, waitFor } from '../support/lifecycle';
import { onRedisServer } from '../support/backends';
import { startRedis, type RedisUnderTest } from '../support/redis-server';
import { startWebhookReceiver, testWebhookSecret, type WebhookReceiver } from '../support/webhook-receiver';

// Webhook tries are durable jobs in Redis: the next try of a final survives the node that
// scheduled it being SIGKILLed, and a restart of Redis (AOF, as in production).

let redis: RedisUnderTest;
let receiver: WebhookReceiver;
let cluster: Cluster | undefined;
const secret = testWebhookSecret();

beforeEach(async () => {
  redis = await startRedis({ appendonly: true });
  receiver = await startWebhookReceiver(secret);
  cluster = await startCluster({
    store: onRedisServer(redis),
    registry: { apps: { portal: { webhook_url: receiver.url, webhook_secret: secret } } },
    env: { RELAY_ADMIN_TOKEN: ADMIN_TOKEN, RELAY_NODE_TTL_MS: '2000' },
  });
});
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
  await receiver.close();
  await redis.stop();
});

/** The event's webhook steps, read through a live node's admin API. */
async function tries(node: { httpUrl: string }, eventId: string): Promise<Frame[]> {
  const answer = await adminApi(node.httpUrl)('GET', `/v1/admin/events/${eventId}`);
  return ((answer.body.steps ?? []) as Frame[]).filter((s) => s.step === 'webhook');
}

/** Polls the event's webhook steps until `done` holds. */
async function triesUntil(node: { httpUrl: string }, eventId: string, done: (steps: Frame[]) => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const steps = await tries(node, eventId);
    if (done(steps)) return steps;
    if (Date.now() > deadline) throw new Error(`webhook steps never matched: ${JSON.stringify(steps)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('the node that ran a failed try (and scheduled the next) is SIGKILLed: another node delivers it', async () => {
  const c = cluster as Cluster;
  receiver.next({ status: 500 }, { status: 500 });
  const app = await c.connect(1, 'portal');
  const event = await send(app, eventFrame());
  const id = event.event_id as string;
  app.send({ type: 'cancel', event_id: id });

  const [first] = await triesUntil(c.node(1), id, (s) => s.length >= 1, 10_000);
  const scheduler = c.nodes.find((n) => String(first?.node).startsWith(`${n.nodeId}-`));
  expect(scheduler).toBeDefined();
  await scheduler?.stop('SIGKILL');
  const alive = c.nodes.find((n) => n !== scheduler) as { httpUrl: string };

  const steps = await triesUntil(alive, id, (s) => s.some((t) => t.outcome === 'delivered'), 20_000);
  const delivered = steps.find((t) => t.outcome === 'delivered');
  expect(String(delivered?.node).startsWith(`${scheduler?.nodeId}-`)).toBe(false);
  expect(steps.map((t) => t.attempt)).toEqual([1, 2, 3]);
  const posted = receiver.received.filter((w) => w.headers['webhook-id'] === id);
  expect(posted.map((w) => w.ok)).toEqual([true, true, true]);
  expect(posted[2]?.verified).toMatchObject({ type: 'error', code: 'CANCELLED', event_id: id });
}, 40_000);

test('Redis is killed and restarted between two tries: the next try still comes, and delivers', async () => {
  const c = cluster as Cluster;
  receiver.next({ status: 500 }, { status: 500 }, { status: 500 });
  const app = await c.connect(1, 'portal');
  const event = await send(app, eventFrame());
  const id = event.event_id as string;
  app.send({ type: 'cancel', event_id: id });
  await waitFor('the first try', () => receiver.received.some((w) => w.headers['webhook-id'] === id), 10_000);

  await redis.kill();
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  await redis.start();

  const answered200 = () =>
    receiver.received.filter((w) => w.headers['webhook-id'] === id && typeof w.answered === 'object' && 'status' in w.answered && w.answered.status === 200);
  await waitFor('a delivery after the restart', () => answered200().length === 1, 30_000);
  const steps = await triesUntil(c.node(1), id, (s) => s.some((t) => t.outcome === 'delivered'), 10_000);
  expect(steps.filter((t) => t.outcome === 'delivered')).toHaveLength(1);
}, 60_000);
