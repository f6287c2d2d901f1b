--[[
  Assigns waiting events that can go now (after a rate-limit hold) and reports expired ones.
  KEYS[1] base key of the agent
  ARGV    now, maxIdleSessions
  Returns { assigned, expired }
]]
local a, x = dispatch(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
return { a, x }
