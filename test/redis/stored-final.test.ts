import { randomBytes } from 'node:crypto';
import { createKeys } from '../../packages/gateway/src/backends/redis/keys';
import { createRedisEventStore } from '../../packages/gateway/src/backends/redis/event-store';
import { scriptRunner } from '../../packages/gateway/src/backends/redis/scripts';
import { appReplyFrame, finalOnWire } from '../../packages/gateway/src/relay/outbound';
import { useRedisServer } from '../support/redis-server';

// Issue 11.6: a finished event kept for its idempotency key holds the answer once in Redis,
// and every stored final is counted by size (relay_stored_final_bytes).

const server = useRedisServer();

test('a stored reply costs Redis about one copy of the answer, and its size is reported once', async () => {
  const { redis, client } = server;
  const keys = createKeys(`${redis.prefix}-${randomBytes(3).toString('hex')}`);
  const stored: number[] = [];
  const events = createRedisEventStore(client, scriptRunner(client), keys, { finishedRetentionMs: 60_000, onFinalStored: (bytes) => stored.push(bytes) });
  const now = Date.now();
  const { record } = await events.append(
    { id: 'evt_big', appId: 'portal', agentId: 'athena', threadId: 't1', sessionKey: 's', payloadRaw: '{"q":1}', acceptedAt: now, expiresAt: now + 60_000, appConnId: 'c1' },
    'key-1',
    60_000,
  );
  const answer = 'a'.repeat(256 * 1024);
  const final = appReplyFrame(record, { type: 'reply', event_id: record.id, content: answer, finish_reason: 'stop' }, undefined, 0, now);
  expect(await events.finish(record.id, final, now)).not.toBeNull();
  expect(await events.finish(record.id, final, now)).toBeNull();
  expect(stored).toEqual([Buffer.byteLength(final)]);

  const bytes = Number(await client.call('MEMORY', 'USAGE', keys.event(record.id), 'SAMPLES', '0'));
  expect(bytes).toBeGreaterThan(answer.length);
  // one copy and the allocator's rounding (jemalloc's size classes); two copies would be over 2x
  expect(bytes).toBeLessThan(answer.length * 1.5);

  // a resend under the key gets the whole frame, the answer under both names
  const again = await events.findByKey('portal', 'key-1', Date.now());
  expect(JSON.parse(finalOnWire(again?.final as string))).toMatchObject({ content: answer, reply: answer });
});
