--[[
  Claims the expiries due by ARGV[1]: each is moved to ARGV[2] (a lease), so another node's
  sweep does not take it meanwhile, and takes it again if this one dies before it is done.
  KEYS[1] one lane's expiries (ZSET: "agentId:eventId" by the time it is due)
  ARGV    now, leaseUntil, limit
  Returns the claimed members.
]]
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, member in ipairs(due) do redis.call('ZADD', KEYS[1], ARGV[2], member) end
return due
