--[[
  Compare-and-set of one hash field: the registry's read-modify-write updates stay atomic
  without holding a WATCH on a shared connection.
  KEYS[1] hash
  ARGV[1] field;  ARGV[2] the value the caller read;  ARGV[3] the new value
  Returns Code.Ok when set, Code.Conflict when the field changed meanwhile (read again),
  Code.Missing when it is gone (see script-codes.ts).
]]
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return Code.Missing end
if current ~= ARGV[2] then return Code.Conflict end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return Code.Ok
