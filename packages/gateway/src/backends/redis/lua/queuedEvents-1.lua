--[[
  Every event in one agent's queue, waiting or in flight (see include-dispatch.lua's :where).
  KEYS[1] base key of the agent
  Returns the event ids.
]]
return redis.call('HKEYS', KEYS[1] .. ':where')
