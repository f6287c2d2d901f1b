--[[
  Adds an accepted event to its agent's queue and assigns what can go at once.
  KEYS[1] base key of the agent
  ARGV    eventId, session, order, notBefore, expiresAt, now, maxIdleSessions
  Returns { assigned, expired } (see dispatch)
]]
local base = KEYS[1]
local id = ARGV[1]
local where = redis.call('HGET', base .. ':where', id)
if where then
  -- enqueued before (a retried call, or a resend): only dispatch. An event in flight is reported
  -- as assigned again, to the same connection with the same attempt: the node that assigned it
  -- may have died before sending it there.
  local a, x = dispatch(base, tonumber(ARGV[6]), tonumber(ARGV[7]))
  local slot = where ~= 'w' and redis.call('HGET', base .. ':slots', where)
  if slot then a[#a + 1] = { id, where, split(slot)[1], readEntry(base, id).attempts } end
  return { a, x }
end
writeEntry(base, id, { session = ARGV[2], order = tonumber(ARGV[3]), notBefore = tonumber(ARGV[4]), expiresAt = tonumber(ARGV[5]), attempts = 0 })
redis.call('HSET', base .. ':where', id, 'w')
redis.call('ZADD', base .. ':waiting', tonumber(ARGV[3]), id)
redis.call('HINCRBY', base .. ':sload', ARGV[2], 1)
local a, x = dispatch(base, tonumber(ARGV[6]), tonumber(ARGV[7]))
return { a, x }
