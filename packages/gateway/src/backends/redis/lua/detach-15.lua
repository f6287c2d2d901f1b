--[[
  An agent connection is gone: its sessions are released and its unanswered events go back to
  the waiting ones at their accept order, ahead of later events, to be assigned again; those
  already past their expiry are reported expired instead.
  KEYS    the agent's queue keys (see include-dispatch.lua)
  ARGV    connId, now, maxIdleSessions
  Returns { assigned, expired }
]]
local conn = ARGV[1]
local now = tonumber(ARGV[2])
if redis.call('HDEL', K.slots, conn) == 0 then return { {}, {} } end
redis.call('ZREM', K.slotorder, conn)
for _, m in ipairs(under(K.holdersOf, conn)) do
  local session = after(m, conn)
  if redis.call('HGET', K.holders, session) == conn then
    redis.call('HDEL', K.holders, session)
    redis.call('ZREM', K.lru, session)
  end
end
redis.call('ZREMRANGEBYLEX', K.holdersOf, '[' .. conn .. '\0', '(' .. conn .. '\1')
-- sessions set aside for this connection may go anywhere now
for _, m in ipairs(under(K.parked, conn)) do place(string.sub(after(m, conn), 18), now) end
local late = {}
for _, m in ipairs(under(K.inflight, conn)) do
  local id = after(m, conn)
  local e = readEntry(id)
  if e.expiresAt <= now then
    -- its time to wait is over: it ends now instead of waiting for an agent again
    forget(id, e.session)
    late[#late + 1] = id
  else
    addWaiting(id, e, now)
  end
end
redis.call('ZREMRANGEBYLEX', K.inflight, '[' .. conn .. '\0', '(' .. conn .. '\1')
local a, x = dispatch(now, tonumber(ARGV[3]))
for _, id in ipairs(late) do x[#x + 1] = id end
return { a, x }
