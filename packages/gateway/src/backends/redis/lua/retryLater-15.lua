--[[
  The connection holding an event failed to deliver it: the event goes back among the waiting
  ones at its accept order, held until notBefore (so its session's later events wait behind
  it); its attempts count stays, so the next assignment is attempt + 1. Nothing happens unless
  connId holds it.
  KEYS    the agent's queue keys (see include-dispatch.lua)
  ARGV    connId, eventId, notBefore, now, maxIdleSessions
  Returns { assigned, expired }
]]
local conn = ARGV[1]
local id = ARGV[2]
local now = tonumber(ARGV[4])
if redis.call('HGET', K.where, id) ~= conn then return { {}, {} } end
local e = readEntry(id)
redis.call('ZREM', K.inflight, conn .. '\0' .. id)
e.notBefore = tonumber(ARGV[3])
writeEntry(id, e)
addWaiting(id, e, now)
local a, x = dispatch(now, tonumber(ARGV[5]))
return { a, x }
