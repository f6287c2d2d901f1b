--[[
  An agent connection can take events.
  KEYS[1] base key of the agent
  ARGV    connId, nodeId, maxInFlight, now, maxIdleSessions
  Returns { assigned, expired }
]]
local base = KEYS[1]
redis.call('HSET', base .. ':slots', ARGV[1], ARGV[2] .. '\n' .. ARGV[3])
redis.call('ZADD', base .. ':slotorder', nextSeq(base), ARGV[1])
local a, x = dispatch(base, tonumber(ARGV[4]), tonumber(ARGV[5]))
return { a, x }
