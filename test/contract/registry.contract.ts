import { createHash, randomBytes } from 'node:crypto';
import type { AgentRecord, AppRecord, DeliveryQueue, EventStore, Registry } from '@relay/gateway';
import { TIMELINE_MAX_STEPS } from '../../packages/gateway/src/ports';

const hash = (token: string) => createHash('sha256').update(token, 'utf8').digest();
const secret = () => randomBytes(16).toString('hex');

export interface RegistryUnderTest {
  registry: Registry;
  teardown(): Promise<void>;
}

const app = (id: string, extra: Partial<AppRecord> = {}): AppRecord => ({
  id,
  name: id.toUpperCase(),
  rateLimitPerMin: 600,
  hardRateLimitPerMin: 1200,
  maxConnections: 10,
  ...extra,
});
const agent = (id: string, extra: Partial<AgentRecord> = {}): AgentRecord => ({
  id,
  name: id,
  description: '',
  allowApps: [],
  maxConnections: 10,
  defaultTtlMs: 60_000,
  maxInFlight: 4,
  maxQueue: 100,
  ...extra,
});

/**
 * The Registry contract (ports/registry.ts), runnable against any backend. `create` is given the
 * seed: one app `portal` with token `seedToken`, one agent `athena` allowlisting it.
 */
export function registryContract(
  name: string,
  create: (seed: { apps: AppRecord[]; agents: AgentRecord[]; tokens: { role: 'app' | 'agent'; principalId: string; hash: Buffer }[] }) => Promise<RegistryUnderTest>,
) {
  describe(`Registry contract (${name})`, () => {
    let registry: Registry;
    let teardown: () => Promise<void>;
    const seedToken = `rlk_portal_${secret()}`;

    beforeEach(async () => {
      ({ registry, teardown } = await create({
        apps: [app('portal')],
        agents: [agent('athena', { allowApps: ['portal'] })],
        tokens: [{ role: 'app', principalId: 'portal', hash: hash(seedToken) }],
      }));
    });
    afterEach(async () => teardown());

    test('the seed is there: records, allowlist and a token that authenticates for its role only', async () => {
      expect(await registry.app('portal')).toEqual(app('portal'));
      expect((await registry.agentsFor('portal')).map((a) => a.id)).toEqual(['athena']);
      const principal = await registry.authenticate('app', seedToken);
      expect(principal).toMatchObject({ role: 'app', id: 'portal', tokenId: hash(seedToken).toString('hex').slice(0, 12) });
      expect(await registry.authenticate('agent', seedToken)).toBeNull();
      expect(await registry.authenticate('app', `${seedToken}x`)).toBeNull();
    });

    test('create refuses a taken id; lists are sorted by id', async () => {
      expect(await registry.createApp(app('flow'))).toBe(true);
      expect(await registry.createApp(app('flow', { name: 'again' }))).toBe(false);
      expect((await registry.app('flow'))?.name).toBe('FLOW');
      expect(await registry.createAgent(agent('klyve'))).toBe(true);
      expect(await registry.createAgent(agent('klyve'))).toBe(false);
      expect((await registry.apps()).map((a) => a.id)).toEqual(['flow', 'portal']);
      expect((await registry.agents()).map((a) => a.id)).toEqual(['athena', 'klyve']);
    });

    test('update changes only the given fields, is read back at once, and says when there is no record', async () => {
      expect(await registry.updateApp('portal', { rateLimitPerMin: 5, hardRateLimitPerMin: 10 })).toEqual(
        app('portal', { rateLimitPerMin: 5, hardRateLimitPerMin: 10 }),
      );
      expect((await registry.app('portal'))?.rateLimitPerMin).toBe(5);
      expect(await registry.updateAgent('athena', { allowApps: [] })).toMatchObject({ id: 'athena', allowApps: [], maxInFlight: 4 });
      expect(await registry.agentsFor('portal')).toEqual([]);
      expect(await registry.updateApp('nobody', { name: 'x' })).toBeNull();
      expect(await registry.updateAgent('nobody', { name: 'x' })).toBeNull();
    });

    test('a failing check leaves the record as it was', async () => {
      const refuse = () => {
        throw new Error('no');
      };
      await expect(registry.updateApp('portal', { name: 'changed' }, refuse)).rejects.toThrow('no');
      expect((await registry.app('portal'))?.name).toBe('PORTAL');
    });

    test('concurrent updates of different fields all land', async () => {
      await Promise.all([
        registry.updateAgent('athena', { name: 'A' }),
        registry.updateAgent('athena', { description: 'D' }),
        registry.updateAgent('athena', { maxInFlight: 9 }),
        registry.updateAgent('athena', { maxQueue: 7 }),
      ]);
      expect(await registry.agent('athena')).toMatchObject({ name: 'A', description: 'D', maxInFlight: 9, maxQueue: 7 });
    });

    test('tokens: added by hash, listed with created and last used, never with the secret', async () => {
      const token = `rla_athena_${secret()}`;
      const added = await registry.addToken('agent', 'athena', hash(token), 1_000);
      expect(added).toEqual({ id: hash(token).toString('hex').slice(0, 12), role: 'agent', principalId: 'athena', createdAt: 1_000, lastUsedAt: null, expiresAt: null });
      expect(await registry.addToken('agent', 'nobody', hash(`rla_nobody_${secret()}`), 1_000)).toBeNull();
      await expect(registry.addToken('agent', 'athena', hash(token), 2_000)).rejects.toThrow();
      const before = Date.now();
      expect(await registry.authenticate('agent', token)).toMatchObject({ id: 'athena', tokenId: added?.id });
      const listed = await registry.tokens('agent', 'athena');
      expect(listed).toHaveLength(1);
      expect(listed?.[0]?.lastUsedAt).toBeGreaterThanOrEqual(before);
      expect(JSON.stringify(listed)).not.toContain(token);
      expect(await registry.tokens('app', 'portal')).toHaveLength(1);
      expect(await registry.tokens('agent', 'nobody')).toBeNull();
    });

    test('a token past its expiresAt no longer authenticates; before it, it does', async () => {
      const token = `rlk_portal_${secret()}`;
      const added = await registry.addToken('app', 'portal', hash(token), Date.now());
      expect(await registry.expireToken('app', 'portal', added?.id as string, Date.now() + 60_000)).toMatchObject({ id: added?.id });
      expect(await registry.authenticate('app', token)).not.toBeNull();
      await registry.expireToken('app', 'portal', added?.id as string, Date.now() - 1);
      expect(await registry.authenticate('app', token)).toBeNull();
      expect(await registry.expireToken('app', 'portal', 'ffffffffffff', Date.now())).toBeNull();
      expect(await registry.expireToken('agent', 'athena', added?.id as string, Date.now())).toBeNull();
    });

    test('revoke removes one token of its owner only', async () => {
      const id = hash(seedToken).toString('hex').slice(0, 12);
      expect(await registry.revokeToken('agent', 'athena', id)).toBe(false);
      expect(await registry.revokeToken('app', 'portal', id)).toBe(true);
      expect(await registry.revokeToken('app', 'portal', id)).toBe(false);
      expect(await registry.authenticate('app', seedToken)).toBeNull();
      expect(await registry.tokens('app', 'portal')).toEqual([]);
    });

    test('deleting an app removes its tokens and takes it off every allowlist', async () => {
      await registry.createAgent(agent('klyve', { allowApps: ['portal', '*'] }));
      const removed = await registry.deleteApp('portal');
      expect(removed?.map((t) => t.id)).toEqual([hash(seedToken).toString('hex').slice(0, 12)]);
      expect(await registry.app('portal')).toBeNull();
      expect(await registry.authenticate('app', seedToken)).toBeNull();
      expect((await registry.agent('athena'))?.allowApps).toEqual([]);
      expect((await registry.agent('klyve'))?.allowApps).toEqual(['*']);
      expect(await registry.deleteApp('portal')).toBeNull();
      // a new app of the same id starts with no tokens and no allowlist entries
      await registry.createApp(app('portal'));
      expect(await registry.tokens('app', 'portal')).toEqual([]);
      expect((await registry.agentsFor('portal')).map((a) => a.id)).toEqual(['klyve']);
    });

    test('deleting an agent removes its tokens', async () => {
      const token = `rla_athena_${secret()}`;
      await registry.addToken('agent', 'athena', hash(token), 5);
      expect((await registry.deleteAgent('athena'))?.length).toBe(1);
      expect(await registry.authenticate('agent', token)).toBeNull();
      expect(await registry.agent('athena')).toBeNull();
      expect(await registry.deleteAgent('athena')).toBeNull();
      expect(await registry.addToken('agent', 'athena', hash(`rla_athena_${secret()}`), 5)).toBeNull();
    });
  });
}

/** The event timeline of the EventStore contract (ports/event-store.ts). */
export function timelineContract(name: string, create: () => Promise<{ events: EventStore; teardown(): Promise<void> }>) {
  describe(`EventStore timeline contract (${name})`, () => {
    let events: EventStore;
    let teardown: () => Promise<void>;
    beforeEach(async () => {
      ({ events, teardown } = await create());
    });
    afterEach(async () => teardown());

    test('steps come back in the order noted; an unknown event has none', async () => {
      await events.note('evt_1', [{ at: 1, kind: 'queued', node: 'n1', reason: 'offline' }], 60_000);
      await events.note('evt_1', [{ at: 2, kind: 'delivered', node: 'n2', conn: 'n2.1', attempt: 1 }], 60_000);
      await events.note('evt_1', [{ at: 3, kind: 'final', node: 'n2', outcome: 'reply', finishReason: 'stop' }], 60_000);
      expect((await events.timeline('evt_1')).map((s) => s.kind)).toEqual(['queued', 'delivered', 'final']);
      expect((await events.timeline('evt_1'))[1]).toEqual({ at: 2, kind: 'delivered', node: 'n2', conn: 'n2.1', attempt: 1 });
      expect(await events.timeline('evt_2')).toEqual([]);
    });

    test('a timeline is bounded, but its final step always fits', async () => {
      for (let i = 0; i < 100; i++) await events.note('evt_b', [{ at: i, kind: 'delivered', node: 'n', conn: 'c', attempt: i + 1 }], 60_000);
      await events.note('evt_b', [{ at: 200, kind: 'final', node: 'n', outcome: 'EVENT_EXPIRED' }], 60_000);
      const steps = await events.timeline('evt_b');
      expect(steps.length).toBeLessThan(100);
      expect(steps[steps.length - 1]?.kind).toBe('final');
    });

    test('steps noted together keep their order, and past the bound only the earlier ones fit, and a final always', async () => {
      const many = Array.from({ length: TIMELINE_MAX_STEPS - 1 }, (_, i) => ({ at: i, kind: 'delivered' as const, node: 'n', conn: 'c', attempt: i + 1 }));
      await events.note('evt_t', many, 60_000);
      await events.note(
        'evt_t',
        [
          { at: 100, kind: 'first_token', node: 'n', attempt: 1 },
          { at: 101, kind: 'first_token', node: 'n', attempt: 2 },
          { at: 102, kind: 'final', node: 'n', outcome: 'reply', finishReason: 'stop' },
        ],
        60_000,
      );
      const steps = await events.timeline('evt_t');
      expect(steps).toHaveLength(TIMELINE_MAX_STEPS + 1);
      expect(steps.slice(-2)).toEqual([
        { at: 100, kind: 'first_token', node: 'n', attempt: 1 },
        { at: 102, kind: 'final', node: 'n', outcome: 'reply', finishReason: 'stop' },
      ]);
    });

    test('a timeline is forgotten after its retention', async () => {
      await events.note('evt_r', [{ at: 1, kind: 'queued', node: 'n', reason: 'offline' }], 50);
      await new Promise((resolve) => setTimeout(resolve, 120));
      expect(await events.timeline('evt_r')).toEqual([]);
    });

    test('a timeline is kept its retention after its latest step, not its first', async () => {
      const id = `evt_latest_${process.pid}_${Date.now()}`;
      // Steps for longer than the retention and its refresh (500 ms), read right after the latest:
      // the read does not wait on a timer, which a busy machine may fire late.
      const first = Date.now();
      let noted = 0;
      for (;;) {
        await events.note(id, [{ at: noted, kind: 'delivered', node: 'n', conn: 'c', attempt: noted + 1 }], 400);
        noted += 1;
        if (Date.now() - first >= 700) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(await events.timeline(id)).toHaveLength(noted);
      await new Promise((resolve) => setTimeout(resolve, 600)); // gone once the retention and its refresh have passed since the latest
      expect(await events.timeline(id)).toEqual([]);
    });
  });
}

/** DeliveryQueue.events: every event in an agent's queue, waiting or in flight. */
export function queueEventsContract(name: string, create: () => Promise<{ queue: DeliveryQueue; teardown(): Promise<void> }>) {
  describe(`DeliveryQueue.events contract (${name})`, () => {
    test('lists waiting and in-flight events, not removed ones, per agent', async () => {
      const { queue, teardown } = await create();
      const entry = (eventId: string, order: number) => ({ eventId, agentId: 'athena', sessionKey: eventId, order, notBefore: 0, expiresAt: Date.now() + 60_000 });
      await queue.attach('athena', { connId: 'c1', nodeId: 'n1', maxInFlight: 1 });
      await queue.enqueue(entry('e1', 1)); // in flight
      await queue.enqueue(entry('e2', 2)); // waiting
      await queue.enqueue(entry('e3', 3));
      await queue.remove('athena', 'e3', false);
      expect((await queue.events('athena')).sort()).toEqual(['e1', 'e2']);
      expect(await queue.events('klyve')).toEqual([]);
      await teardown();
    });
  });
}
