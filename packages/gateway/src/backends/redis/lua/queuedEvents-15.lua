--[[
  Every event in one agent's queue, waiting or in flight.
  KEYS    the agent's queue keys (see include-dispatch.lua)
  Returns the event ids.
]]
return redis.call('HKEYS', K.where)
