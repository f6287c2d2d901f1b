--[[
  Marks an event finished, once: the caller that gets the record sends the one final frame.
  KEYS[1] event key
  ARGV[1] how long to keep the finished record, ms
  Returns the record as a flat field/value list, or false if missing or already finished.
]]
if redis.call('HGET', KEYS[1], 'finished') ~= '0' then return false end
redis.call('HSET', KEYS[1], 'finished', '1')
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return redis.call('HGETALL', KEYS[1])
