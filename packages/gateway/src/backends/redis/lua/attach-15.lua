--[[
  An agent connection can take events.
  KEYS    the agent's queue keys (see include-dispatch.lua)
  ARGV    connId, nodeId, maxInFlight, now, maxIdleSessions
  Returns { assigned, expired }
]]
redis.call('HSET', K.slots, ARGV[1], ARGV[2] .. '\n' .. ARGV[3] .. '\n0')
redis.call('ZADD', K.slotorder, nextSeq(), ARGV[1])
local a, x = dispatch(tonumber(ARGV[4]), tonumber(ARGV[5]))
return { a, x }
