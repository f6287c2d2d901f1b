--[[
  Which connection holds an event in flight (see include-dispatch.lua for the keys).
  KEYS[1] base key of the agent
  ARGV[1] event id
  Returns the connId, or false while the event waits or once it has left the queue.
]]
local where = redis.call('HGET', KEYS[1] .. ':where', ARGV[1])
if not where or where == 'w' then return false end
return where
