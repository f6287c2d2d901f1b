--[[
  Sets fields of an existing event record; never creates one.
  KEYS[1] event key
  ARGV    field, value pairs
  Returns Code.Ok if the event exists, else Code.Missing (see script-codes.ts).
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return Code.Missing end
redis.call('HSET', KEYS[1], unpack(ARGV))
return Code.Ok
