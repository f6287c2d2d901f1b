--[[
  Takes an event out of the queue wherever it is (or, with onlyIfWaiting, only if waiting).
  KEYS    the agent's queue keys (see include-dispatch.lua)
  ARGV    eventId, onlyIfWaiting ("1"/"0"), now, maxIdleSessions
  Returns { was ("waiting" | "in-flight" | ""), connId or "", assigned, expired }
]]
return removeEvent(ARGV[1], ARGV[2] == '1', tonumber(ARGV[3]), tonumber(ARGV[4]))
