--[[
  Adds an accepted event to its agent's queue and assigns what can go at once (enqueueEvent).
  KEYS    the agent's queue keys (see include-dispatch.lua)
  ARGV    eventId, session, order, notBefore, expiresAt, now, maxIdleSessions
  Returns { assigned, expired } (see dispatch)
]]
local e = { session = ARGV[2], order = tonumber(ARGV[3]), notBefore = tonumber(ARGV[4]), expiresAt = tonumber(ARGV[5]), attempts = 0, seq = 0 }
return enqueueEvent(ARGV[1], e, tonumber(ARGV[6]), tonumber(ARGV[7]))
