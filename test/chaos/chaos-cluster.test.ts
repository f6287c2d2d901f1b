import path from 'node:path';
import { keySlot } from '../../packages/gateway/src/backends/redis/slot';
import { testRegistry } from '../support/registry';
import { startRedisCluster, type RedisClusterUnderTest } from '../support/redis-cluster';
import { ADMIN_TOKEN } from '../support/admin';
import { ChaosAgent, ChaosApp, NodePool, countsText, sleep, sum } from './harness';

// Chaos on a Redis Cluster (three primaries, a replica each) with RELAY_REDIS_MIN_REPLICAS=1:
// the same apps, agents and relay-node faults as chaos.test.ts, and instead of one Redis
// restarting, the primary of an agent's shard SIGKILLed under load. The cluster promotes its
// replica; until the killed process is back as that replica's replica, the shard's events are
// refused (RELAY_UNAVAILABLE) and the apps retry them with the same idempotency key. Once the
// faults stop and the traffic settles: every event accepted, answered, each with one outcome,
// and no node died but by the test's hand. Fewer events than the single-Redis run, to keep
// `npm test` short. Timings are printed, never asserted.

const NODE_TTL_MS = 1_500;
const NODES = 3;
const APPS = ['portal', 'flow', 'academy'] as const;
const AGENTS = ['athena', 'klyve'] as const;
const CLIENTS_PER_APP = 2;
const WORKERS_PER_AGENT = 2;
/** 3 apps × 2 clients × 150 = 900 events, paced over TRAFFIC_MS so the faults hit them in flight. */
const EVENTS_PER_CLIENT = 150;
const TRAFFIC_MS = 20_000;
/** How long the killed primary stays down after its replica took over. */
const PRIMARY_DOWN_MS = 1_000;
const SETTLE_MS = 45_000;
const LOG_DIR = path.resolve(__dirname, '../../test-artifacts/chaos-cluster');

type Fault = 'kill' | 'drain' | 'primary';
const SCHEDULE: { at: number; fault: Fault }[] = [
  { at: 2_500, fault: 'kill' },
  { at: 6_000, fault: 'primary' },
  { at: 11_000, fault: 'drain' },
  { at: 15_000, fault: 'kill' },
];

let cluster: RedisClusterUnderTest | undefined;
let pool: NodePool | undefined;
const apps: ChaosApp[] = [];
const agents: ChaosAgent[] = [];

afterAll(async () => {
  const closing = Promise.all([...apps, ...agents].map((c) => c.close()));
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([closing, new Promise((resolve) => (timer = setTimeout(resolve, 5_000)))]);
  clearTimeout(timer);
  await pool?.killAll();
  pool?.writeLogs(LOG_DIR);
  await cluster?.stop();
}, 30_000);

test("relay-node kills and drains and a shard primary SIGKILLed under load lose no accepted event (RELAY_REDIS_MIN_REPLICAS=1)", async () => {
  const began = Date.now();
  cluster = await startRedisCluster();
  const unlimited = { rate_limit_per_min: 1_000_000 };
  const { registry, tokens } = testRegistry({
    apps: { portal: unlimited, flow: unlimited, academy: unlimited },
    agents: { athena: { allow_apps: [...APPS] }, klyve: { allow_apps: [...APPS] } },
  });
  pool = new NodePool({
    registry,
    env: {
      REDIS_CLUSTER_URLS: cluster.seeds,
      RELAY_REDIS_PREFIX: cluster.prefix,
      RELAY_REDIS_MIN_REPLICAS: '1',
      RELAY_NODE_TTL_MS: String(NODE_TTL_MS),
      RELAY_SHUTDOWN_GRACE_MS: '5000',
      RELAY_ADMIN_TOKEN: ADMIN_TOKEN,
    },
  });
  const nodes = pool;
  const redis = cluster;
  await Promise.all(Array.from({ length: NODES }, () => nodes.add()));
  for (const id of AGENTS) agents.push(new ChaosAgent(id, tokens[id], nodes, WORKERS_PER_AGENT));
  for (const id of APPS) apps.push(new ChaosApp(id, tokens[id], nodes, CLIENTS_PER_APP));
  await Promise.all([...agents, ...apps].map((c) => c.opened()));

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

  const done = { kills: 0, drains: 0, primaryKills: 0 };
  const drainExits: (number | string)[] = [];
  for (const { at, fault } of SCHEDULE) {
    await sleep(trafficStart + at - Date.now());
    if (fault === 'primary') {
      // athena's queue, and the accept of every event to her, are on this shard.
      const slot = keySlot('agent:athena');
      nodes.note(`SIGKILL the primary of slot ${slot}`);
      const killed = await redis.killPrimaryOf(slot);
      nodes.note(`port ${killed} killed, its replica promoted`);
      await sleep(PRIMARY_DOWN_MS);
      await redis.restart(killed);
      nodes.note(`port ${killed} back as a replica`);
      done.primaryKills += 1;
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

  const settleStart = Date.now();
  const answeredAll = () => apps.every((a) => a.unfinished().length === 0);
  while (!answeredAll() && Date.now() - settleStart < SETTLE_MS) await sleep(100);
  const settledMs = Date.now() - settleStart;
  await sleep(1_000);

  await Promise.all([...apps, ...agents].map((c) => c.close()));
  const finalExits = await nodes.stopAll();
  const crashed = nodes.crashed();

  const checks = apps.map((a) => ({ app: a, ...a.verify() }));
  const sent = sum(apps.map((a) => a.sent.length));
  const accepted = sum(apps.map((a) => a.progress().accepted));
  const answered = sum(apps.map((a) => a.progress().answered));
  const finalsUnique = sum(checks.map((c) => c.finalsUnique));
  const refusals = new Map<string, number>();
  for (const a of apps) for (const [code, n] of a.refusals) refusals.set(code, (refusals.get(code) ?? 0) + n);
  console.log(
    [
      'chaos figures on a Redis Cluster',
      `  events sent / accepted / answered  ${sent} / ${accepted} / ${answered}`,
      `  final frames at apps               ${sum(checks.map((c) => c.finalsRaw))} (${finalsUnique} distinct)`,
      `  deliveries at agents               ${sum(agents.map((a) => a.deliveries))} (with attempt > 1: ${sum(agents.map((a) => a.redeliveries))})`,
      `  refusals retried by apps           ${countsText(refusals)}`,
      `  faults                             ${JSON.stringify(done)}`,
      `  settled after traffic in           ${(settledMs / 1000).toFixed(1)} s`,
      `  duration                           ${((Date.now() - began) / 1000).toFixed(1)} s; node logs in ${LOG_DIR}`,
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
  expect(done).toEqual({ kills: 2, drains: 1, primaryKills: 1 });
}, 150_000);
