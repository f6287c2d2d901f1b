--[[
  Marks an event finished, once: the caller that gets the record sends the one final frame. The
  frame is kept in the record, and the event noted as having a final not yet handed on.
  KEYS[1] event key
  KEYS[2] the finals not yet handed on (ZSET: event id by the time it was noted)
  ARGV[1] how long to keep the finished record, ms;  ARGV[2] the final frame
  ARGV[3] now, ms;  ARGV[4] event id
  Returns the record as a flat field/value list, or false if missing or already finished.
]]
if redis.call('HGET', KEYS[1], 'finished') ~= '0' then return false end
redis.call('HSET', KEYS[1], 'finished', '1', 'final', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
return redis.call('HGETALL', KEYS[1])
