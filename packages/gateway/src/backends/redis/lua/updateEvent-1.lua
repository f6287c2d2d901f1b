--[[
  Sets fields of an existing event record; never creates one.
  KEYS[1] event key
  ARGV    field, value pairs
  Returns 1 if the event exists, else 0.
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
