--[[
  Compare-and-set of one hash field: the registry's read-modify-write updates stay atomic
  without holding a WATCH on a shared connection.
  KEYS[1] hash
  ARGV[1] field;  ARGV[2] the value the caller read;  ARGV[3] the new value
  Returns 1 when set, 0 when the field changed meanwhile (read again), -1 when it is gone.
]]
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return -1 end
if current ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
