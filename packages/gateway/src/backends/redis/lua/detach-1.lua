--[[
  An agent connection is gone: its sessions are released and its unanswered events go back to
  the waiting set at their accept order, ahead of later events, to be assigned again; those
  already past their expiry are reported expired instead.
  KEYS[1] base key of the agent
  ARGV    connId, now, maxIdleSessions
  Returns { assigned, expired }
]]
local base = KEYS[1]
local conn = ARGV[1]
if redis.call('HDEL', base .. ':slots', conn) == 0 then return { {}, {} } end
redis.call('ZREM', base .. ':slotorder', conn)
for _, session in ipairs(redis.call('SMEMBERS', base .. ':holders-of:' .. conn)) do
  if redis.call('HGET', base .. ':holders', session) == conn then
    redis.call('HDEL', base .. ':holders', session)
    redis.call('ZREM', base .. ':holders-lru', session)
  end
end
redis.call('DEL', base .. ':holders-of:' .. conn)
local now = tonumber(ARGV[2])
local late = {}
local held = redis.call('ZRANGE', base .. ':inflight:' .. conn, 0, -1, 'WITHSCORES')
for i = 1, #held, 2 do
  local id = held[i]
  local e = readEntry(base, id)
  if e.expiresAt <= now then
    -- its time to wait is over: it ends now instead of waiting for an agent again
    forget(base, id, e.session)
    late[#late + 1] = id
  else
    redis.call('ZADD', base .. ':waiting', held[i + 1], id)
    redis.call('HSET', base .. ':where', id, 'w')
  end
end
redis.call('DEL', base .. ':inflight:' .. conn)
local a, x = dispatch(base, now, tonumber(ARGV[3]))
for _, id in ipairs(late) do x[#x + 1] = id end
return { a, x }
