--[[
  Marks an event finished, once: the caller that gets the record sends the one final frame. The
  frame is kept in the record; the payload is dropped: a finished event is never delivered again
  (dropped first, so that a long payload is not read; a finished record has none to drop).
  The record is kept ARGV[1] ms, or, if it was recorded under an idempotency key, until that key
  lapses (the record's `idemUntil`): a resend under the key is answered from the record (its
  `accepted`, its final). With KEYS[2], where one primary holds every key, the final is noted as
  not yet handed on in the same step; on a Redis Cluster only the record is touched, so it may
  sit on any slot, and the caller notes the final before (see event-store.ts).
  KEYS[1] event key;  KEYS[2] (optional) the finals not yet handed on
  ARGV[1] how long to keep the finished record, ms;  ARGV[2] the final frame;  ARGV[3] now, ms;
  with KEYS[2]: ARGV[4] the event id
  Returns the record as it was before this call, without its payload, as a flat field/value
  list (the caller has the final it adds), or false if missing or already finished.
]]
redis.call('HDEL', KEYS[1], 'payload')
local record = redis.call('HGETALL', KEYS[1])
local finished, idemUntil = nil, 0
for i = 1, #record, 2 do
  if record[i] == 'finished' then finished = record[i + 1]
  elseif record[i] == 'idemUntil' then idemUntil = tonumber(record[i + 1]) end
end
if finished ~= '0' then return false end
redis.call('HSET', KEYS[1], 'finished', '1', 'final', ARGV[2])
if #KEYS > 1 then redis.call('ZADD', KEYS[2], 'NX', ARGV[3], ARGV[4]) end
local keep = tonumber(ARGV[1])
if idemUntil - tonumber(ARGV[3]) > keep then keep = idemUntil - tonumber(ARGV[3]) end
redis.call('PEXPIRE', KEYS[1], keep)
return record
