--[[
  Adds an accepted event to its agent's queue and assigns what can go at once.
  KEYS[1] base key of the agent
  ARGV    eventId, session, order, notBefore, expiresAt, now, maxIdleSessions
  Returns { assigned, expired } (see dispatch)
]]
local base = KEYS[1]
local id = ARGV[1]
if redis.call('HEXISTS', base .. ':where', id) == 1 then
  -- enqueued before (a retried call): only dispatch
  local a, x = dispatch(base, tonumber(ARGV[6]), tonumber(ARGV[7]))
  return { a, x }
end
writeEntry(base, id, { session = ARGV[2], order = tonumber(ARGV[3]), notBefore = tonumber(ARGV[4]), expiresAt = tonumber(ARGV[5]), attempts = 0 })
redis.call('HSET', base .. ':where', id, 'w')
redis.call('ZADD', base .. ':waiting', tonumber(ARGV[3]), id)
redis.call('HINCRBY', base .. ':sload', ARGV[2], 1)
local a, x = dispatch(base, tonumber(ARGV[6]), tonumber(ARGV[7]))
return { a, x }
