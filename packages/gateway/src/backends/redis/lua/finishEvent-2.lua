--[[
  Marks an event finished, once: the caller that gets the record sends the one final frame. The
  frame is kept in the record, and the event noted as having a final not yet handed on. The
  payload is dropped: a finished event is never delivered again.
  The record is kept ARGV[1] ms, or, if it was recorded under an idempotency key that still names
  it, as long as that key: a resend under the key is answered from the record (its `accepted`,
  its final). The key is the record's `idem` field, not one of KEYS: the caller cannot know it
  without reading the record first (Redis Cluster is not supported; see README).
  KEYS[1] event key
  KEYS[2] the finals not yet handed on (ZSET: event id by the time it was noted)
  ARGV[1] how long to keep the finished record, ms;  ARGV[2] the final frame
  ARGV[3] now, ms;  ARGV[4] event id
  Returns the record as a flat field/value list, or false if missing or already finished.
]]
if redis.call('HGET', KEYS[1], 'finished') ~= '0' then return false end
redis.call('HSET', KEYS[1], 'finished', '1', 'final', ARGV[2])
redis.call('HDEL', KEYS[1], 'payload')
local keep = tonumber(ARGV[1])
local idem = redis.call('HGET', KEYS[1], 'idem')
if idem and redis.call('GET', idem) == ARGV[4] then
  local left = redis.call('PTTL', idem)
  if left > keep then keep = left end
end
redis.call('PEXPIRE', KEYS[1], keep)
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
return redis.call('HGETALL', KEYS[1])
