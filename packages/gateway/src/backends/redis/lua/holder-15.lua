--[[
  Which connection holds an event in flight.
  KEYS    the agent's queue keys (see include-dispatch.lua)
  ARGV[1] event id
  Returns the connId, or false while the event waits or once it has left the queue.
]]
local where = redis.call('HGET', K.where, ARGV[1])
if not where or where == 'w' then return false end
return where
