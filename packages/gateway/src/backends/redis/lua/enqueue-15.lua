--[[
  Adds an accepted event to its agent's queue and assigns what can go at once (enqueueEvent).
  KEYS    the agent's queue keys (see include-dispatch.lua)
  ARGV    eventId, session, order, notBefore, expiresAt, now, maxIdleSessions, after: '' or an
          event that must be in the queue (DeliveryQueue.enqueueAfter)
  Returns { assigned, expired } (see dispatch), or nil when `after` is not in the queue
]]
if ARGV[8] ~= '' and redis.call('HEXISTS', K.where, ARGV[8]) == 0 then return false end
local e = { session = ARGV[2], order = tonumber(ARGV[3]), notBefore = tonumber(ARGV[4]), expiresAt = tonumber(ARGV[5]), attempts = 0, seq = 0 }
return enqueueEvent(ARGV[1], e, tonumber(ARGV[6]), tonumber(ARGV[7]))
