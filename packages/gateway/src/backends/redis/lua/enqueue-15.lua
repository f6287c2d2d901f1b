--[[
  Adds an accepted event to its agent's queue and assigns what can go at once.
  KEYS    the agent's queue keys (see include-dispatch.lua)
  ARGV    eventId, session, order, notBefore, expiresAt, now, maxIdleSessions
  Returns { assigned, expired } (see dispatch)
]]
local id = ARGV[1]
local now = tonumber(ARGV[6])
local where = redis.call('HGET', K.where, id)
if where then
  -- enqueued before (a retried call, or a resend): only dispatch. An event in flight is reported
  -- as assigned again, to the same connection with the same attempt: the node that assigned it
  -- may have died before sending it there.
  local a, x = dispatch(now, tonumber(ARGV[7]))
  local slot = where ~= 'w' and redis.call('HGET', K.slots, where)
  if slot then a[#a + 1] = { id, where, split(slot)[1], readEntry(id).attempts } end
  return { a, x }
end
local e = { session = ARGV[2], order = tonumber(ARGV[3]), notBefore = tonumber(ARGV[4]), expiresAt = tonumber(ARGV[5]), attempts = 0 }
redis.call('HINCRBY', K.sload, e.session, 1)
local a, x, slots, list = assignAtOnce(id, e, now, tonumber(ARGV[7]))
if a then return { a, x } end
writeEntry(id, e)
addWaiting(id, e, now)
-- the loads read above still hold: filing a waiting event changes no connection's
a, x = dispatch(now, tonumber(ARGV[7]), slots, list)
return { a, x }
