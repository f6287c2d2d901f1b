--[[
  Takes an event out of the queue wherever it is (or, with onlyIfWaiting, only if waiting).
  KEYS    the agent's queue keys (see include-dispatch.lua)
  ARGV    eventId, onlyIfWaiting ("1"/"0"), now, maxIdleSessions
  Returns { was ("waiting" | "in-flight" | ""), connId or "", assigned, expired }
]]
local id = ARGV[1]
local now = tonumber(ARGV[3])
local where = redis.call('HGET', K.where, id)
if not where then return { '', '', {}, {} } end
local e = readEntry(id)
if where == 'w' then
  removeWaiting(id, e, now)
  forget(id, e.session)
  local a, x = dispatch(now, tonumber(ARGV[4]))
  return { 'waiting', '', a, x }
end
if ARGV[2] == '1' then return { 'in-flight', where, {}, {} } end
redis.call('ZREM', K.inflight, where .. '\0' .. id)
forget(id, e.session)
local a, x = dispatch(now, tonumber(ARGV[4]))
return { 'in-flight', where, a, x }
