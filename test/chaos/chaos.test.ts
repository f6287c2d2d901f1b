import path from 'node:path';
import { testRegistry } from '../support/registry';
import { startRedis, type RedisUnderTest } from '../support/redis-server';
import { ADMIN_TOKEN, adminApi } from '../support/admin';
import { ChaosAgent, ChaosApp, NodePool, countsText, sleep, sum } from './harness';
import { ChaosHttpAgent } from './http-agent';

// Chaos: apps and agents exchange a few thousand events with streamed replies while nodes are
// killed (SIGKILL), drained (SIGTERM) and replaced by new ones on new ports, and Redis (AOF,
// appendfsync always) is killed and restarted once. Clients reconnect to whichever nodes are
// alive; apps retry refused events with the same idempotency key. Once the faults stop and the
// traffic settles: every event the apps sent was accepted and answered, each with one outcome
// however many copies of its final frame arrived; every SDK handle yielded each attempt's tokens
// once, in order, and its last attempt spells the answer (resumes across every reconnect and
// redelivery); and no node died but by the test's hand. Timings and throughput are printed,
// never asserted.

const NODE_TTL_MS = 1_500;
const NODES = 3;
const APPS = ['portal', 'flow', 'academy'] as const;
const AGENTS = ['athena', 'klyve'] as const;
/** This one is an agent over HTTP (webhook only, no socket): the kills cut its requests midway. */
const HTTP_AGENT = 'klyve';
const HTTP_AGENT_SECRET = `whsec_${Buffer.alloc(24, 5).toString('base64')}`;
const CLIENTS_PER_APP = 2;
const WORKERS_PER_AGENT = 2;
/** 3 apps × 2 clients × 400 = 2,400 events, paced over TRAFFIC_MS so the faults hit them in flight. */
const EVENTS_PER_CLIENT = 400;
const TRAFFIC_MS = 34_000;
/** How long Redis stays down before it is started again on the same port and data dir. */
const REDIS_DOWN_MS = 1_000;
/** After the last fault and the last send, how long every event may take to be answered. */
const SETTLE_MS = 45_000;

/** Every node's log and what the test did when, written at the end of each run. */
const LOG_DIR = path.resolve(__dirname, '../../test-artifacts/chaos');

type Fault = 'kill' | 'drain' | 'redis';
/** Faults, at ms after the traffic starts; each waits for the one before to finish. */
const SCHEDULE: { at: number; fault: Fault }[] = [
  { at: 3_000, fault: 'kill' },
  { at: 7_500, fault: 'drain' },
  { at: 12_000, fault: 'kill' },
  { at: 16_500, fault: 'redis' },
  { at: 22_000, fault: 'drain' },
  { at: 26_500, fault: 'kill' },
  { at: 31_000, fault: 'drain' },
];

let redis: RedisUnderTest | undefined;
let pool: NodePool | undefined;
const apps: ChaosApp[] = [];
const agents: (ChaosAgent | ChaosHttpAgent)[] = [];

afterAll(async () => {
  // Also after a failure: no client, node or redis-server outlives the file.
  const closing = Promise.all([...apps, ...agents].map((c) => c.close()));
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([closing, new Promise((resolve) => (timer = setTimeout(resolve, 5_000)))]);
  clearTimeout(timer);
  await pool?.killAll();
  pool?.writeLogs(LOG_DIR);
  await redis?.stop();
}, 30_000);

test('kills, drains and a Redis restart under load lose no accepted event', async () => {
  const began = Date.now();
  redis = await startRedis({ appendonly: true });
  const unlimited = { rate_limit_per_min: 1_000_000 };
  const httpAgent = await ChaosHttpAgent.start(HTTP_AGENT, HTTP_AGENT_SECRET);
  agents.push(httpAgent);
  const { registry, tokens } = testRegistry({
    apps: { portal: unlimited, flow: unlimited, academy: unlimited },
    agents: {
      athena: { allow_apps: [...APPS] },
      klyve: { allow_apps: [...APPS], webhook_url: httpAgent.url, webhook_secret: HTTP_AGENT_SECRET },
    },
  });
  pool = new NodePool({
    registry,
    env: {
      REDIS_URL: redis.url,
      RELAY_REDIS_PREFIX: redis.prefix,
      RELAY_NODE_TTL_MS: String(NODE_TTL_MS),
      RELAY_SHUTDOWN_GRACE_MS: '5000',
      RELAY_ADMIN_TOKEN: ADMIN_TOKEN,
    },
  });
  const nodes = pool;
  await Promise.all(Array.from({ length: NODES }, () => nodes.add()));
  for (const id of AGENTS) if (id !== HTTP_AGENT) agents.push(new ChaosAgent(id, tokens[id], nodes, WORKERS_PER_AGENT));
  for (const id of APPS) apps.push(new ChaosApp(id, tokens[id], nodes, CLIENTS_PER_APP));
  await Promise.all([...agents, ...apps].map((c) => c.opened()));

  // Traffic: each app client sends its share at an even pace, to both agents in turn.
  const trafficStart = Date.now();
  const sends: Promise<void>[] = [];
  const traffic = Promise.all(
    apps.flatMap((app) =>
      Array.from({ length: CLIENTS_PER_APP }, async (_, c) => {
        for (let i = 0; i < EVENTS_PER_CLIENT; i++) {
          const n = i * CLIENTS_PER_APP + c;
          sends.push(app.send(c, AGENTS[n % AGENTS.length] as string, n));
          await sleep(trafficStart + ((i + 1) * TRAFFIC_MS) / EVENTS_PER_CLIENT - Date.now());
        }
      }),
    ),
  );

  // Faults, on schedule, one at a time; a node taken down is replaced by a new one.
  const done = { kills: 0, drains: 0, redisRestarts: 0 };
  const drainExits: (number | string)[] = [];
  for (const { at, fault } of SCHEDULE) {
    await sleep(trafficStart + at - Date.now());
    if (fault === 'redis') {
      nodes.note('redis SIGKILL');
      await redis.kill();
      await sleep(REDIS_DOWN_MS);
      await redis.start();
      nodes.note('redis started');
      done.redisRestarts += 1;
      await untilReady(nodes);
      continue;
    }
    const { exit } = await nodes.takeDown(fault === 'kill' ? 'SIGKILL' : 'SIGTERM');
    if (fault === 'kill') done.kills += 1;
    else {
      done.drains += 1;
      drainExits.push(exit);
    }
    await nodes.add();
  }
  await traffic;
  await Promise.all(sends);

  // Settle: every event answered, then a moment more for late duplicate finals to be counted.
  const settleStart = Date.now();
  const answeredAll = () => apps.every((a) => a.unfinished().length === 0);
  while (!answeredAll() && Date.now() - settleStart < SETTLE_MS) await sleep(100);
  const settledMs = Date.now() - settleStart;
  if (!answeredAll()) await explainUnfinished(nodes);
  await sleep(1_000);

  await Promise.all([...apps, ...agents].map((c) => c.close()));
  const finalExits = await nodes.stopAll();
  const crashed = nodes.crashed();

  const checks = apps.map((a) => ({ app: a, ...a.verify() }));
  const sent = sum(apps.map((a) => a.sent.length));
  const accepted = sum(apps.map((a) => a.progress().accepted));
  const answered = sum(apps.map((a) => a.progress().answered));
  const finalsRaw = sum(checks.map((c) => c.finalsRaw));
  const finalsUnique = sum(checks.map((c) => c.finalsUnique));
  const deliveries = sum(agents.map((a) => a.deliveries));
  const refusals = new Map<string, number>();
  for (const a of apps) for (const [code, n] of a.refusals) refusals.set(code, (refusals.get(code) ?? 0) + n);
  const appErrors = new Map<string, number>();
  for (const a of apps) for (const [code, n] of a.errors) appErrors.set(code, (appErrors.get(code) ?? 0) + n);
  const agentErrors = new Map<string, number>();
  for (const a of agents) for (const [code, n] of a.errors) agentErrors.set(code, (agentErrors.get(code) ?? 0) + n);

  console.log(
    [
      'chaos figures',
      `  events sent                  ${sent}`,
      `  events accepted              ${accepted}`,
      `  events answered              ${answered}`,
      `  events lost                  ${sent - answered}`,
      `  final frames at apps         ${finalsRaw} (duplicates absorbed by the apps' dedupe: ${finalsRaw - finalsUnique})`,
      `  tokens at apps               ${sum(apps.map((a) => a.tokens))}`,
      `  SDK streams spelling answer  ${sum(apps.map((a) => a.spelled))} of ${answered} (asserted: each attempt's tokens once, in order, the last spelling the answer)`,
      `  deliveries at agents         ${deliveries} (duplicates, same event_id again: ${sum(agents.map((a) => a.duplicates()))}; with attempt > 1: ${sum(agents.map((a) => a.redeliveries))})`,
      `  refusals retried by apps     ${countsText(refusals)}`,
      `  other errors at apps         ${countsText(appErrors)}`,
      `  errors at agents             ${countsText(agentErrors)}`,
      `  kills (SIGKILL)              ${done.kills}`,
      `  drains (SIGTERM)             ${done.drains} (exit codes ${drainExits.join(', ')})`,
      `  Redis restarts               ${done.redisRestarts}`,
      `  nodes started                ${nodes.nodes.length} (error lines in their logs: ${nodes.errorLines()})`,
      `  settled after traffic in     ${(settledMs / 1000).toFixed(1)} s`,
      `  duration                     ${((Date.now() - began) / 1000).toFixed(1)} s`,
    ].join('\n'),
  );

  expect(checks.flatMap((c) => c.problems.map((p) => `${c.app.appId}: ${p}`)).slice(0, 20)).toEqual([]);
  expect(agents.flatMap((a) => a.problems.map((p) => `${a.agentId}: ${p}`)).slice(0, 20)).toEqual([]);
  expect(accepted).toBe(sent);
  expect(answered).toBe(sent);
  expect(finalsUnique).toBe(sent);
  expect(crashed).toEqual([]);
  expect(drainExits.every((code) => code === 0)).toBe(true);
  expect(finalExits.every((code) => code === 0)).toBe(true);
  expect(done).toEqual({ kills: 3, drains: 3, redisRestarts: 1 });
}, 150_000);

/** Waits until every live node answers /readyz with 200 again (after Redis came back). */
async function untilReady(nodes: NodePool, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const statuses = await Promise.all(
      nodes.liveNodes().map((n) => fetch(`${n.httpUrl}/readyz`).then((r) => r.status, () => 0)),
    );
    if (statuses.every((s) => s === 200)) return;
    if (Date.now() > deadline) throw new Error(`nodes not ready ${timeoutMs} ms after Redis came back: ${statuses.join(', ')}`);
    await sleep(100);
  }
}

/** For a failing run: the relay's own timeline of a few of the events that never finished. */
async function explainUnfinished(nodes: NodePool): Promise<void> {
  const node = nodes.liveNodes()[0];
  const missing = apps.flatMap((a) => a.unfinished().map((e) => ({ app: a.appId, ...e })));
  const lines = [`${missing.length} events unfinished after settling; the first few:`];
  for (const e of missing.slice(0, 5)) {
    let timeline = 'never accepted';
    if (e.eventId !== undefined && node) {
      const answer = await adminApi(node.httpUrl)('GET', `/v1/admin/events/${e.eventId}`);
      timeline = JSON.stringify(answer.body);
    }
    const delivered = sum(agents.map((a) => a.delivered.get(e.eventId ?? '') ?? 0));
    lines.push(`  ${e.app} ${e.key} ${e.eventId ?? ''}, delivered ${delivered} times: ${timeline}`);
  }
  lines.push(`node logs and the fault history, once the nodes stop: ${LOG_DIR}`);
  console.log(lines.join('\n'));
}
