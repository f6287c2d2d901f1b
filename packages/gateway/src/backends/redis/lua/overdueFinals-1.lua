--[[
  Claims finals noted before ARGV[1] and still not handed on: each is noted again at ARGV[2],
  so another node does not take it meanwhile, and gets it back if this one dies with it.
  KEYS[1] the finals not yet handed on (ZSET: event id by the time it was noted)
  ARGV    before, now, limit
  Returns the claimed event ids.
]]
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[2], id) end
return ids
