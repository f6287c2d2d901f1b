--[[
  How many times an event has been assigned to a connection.
  KEYS    the agent's queue keys (see include-dispatch.lua)
  ARGV[1] event id
  Returns the count: 0 before the first assignment, or once the event has left the queue.
]]
local e = readEntry(ARGV[1])
if not e then return 0 end
return e.attempts
