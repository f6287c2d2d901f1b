--[[
  Takes an event out of the queue wherever it is (or, with onlyIfWaiting, only if waiting).
  KEYS[1] base key of the agent
  ARGV    eventId, onlyIfWaiting ("1"/"0"), now, maxIdleSessions
  Returns { was ("waiting" | "in-flight" | ""), connId or "", assigned, expired }
]]
local base = KEYS[1]
local id = ARGV[1]
local where = redis.call('HGET', base .. ':where', id)
if not where then return { '', '', {}, {} } end
local e = readEntry(base, id)
if where == 'w' then
  redis.call('ZREM', base .. ':waiting', id)
  forget(base, id, e.session)
  local a, x = dispatch(base, tonumber(ARGV[3]), tonumber(ARGV[4]))
  return { 'waiting', '', a, x }
end
if ARGV[2] == '1' then return { 'in-flight', where, {}, {} } end
redis.call('ZREM', base .. ':inflight:' .. where, id)
forget(base, id, e.session)
local a, x = dispatch(base, tonumber(ARGV[3]), tonumber(ARGV[4]))
return { 'in-flight', where, a, x }
