--[[
  Assigns waiting events that can go now (after a rate-limit hold) and reports expired ones.
  KEYS    the agent's queue keys (see include-dispatch.lua)
  ARGV    now, maxIdleSessions
  Returns { assigned, expired }
]]
local a, x = dispatch(tonumber(ARGV[1]), tonumber(ARGV[2]))
return { a, x }
