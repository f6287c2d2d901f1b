--[[
  Shared by the scripts that count an event against its app's rate (prepended at load time).
]]

--- Counts one event in the app's current rate window (`counter`), unless the hard limit is
--- reached. One call in the common case: the window's key is new once per window, so its expiry
--- is set then, and a refused event is counted back out. Returns the event's number in the
--- window, or -1 when refused.
local function countEvent(counter, hardLimit, counterTtlMs)
  local count = redis.call('INCR', counter)
  if count == 1 then redis.call('PEXPIRE', counter, counterTtlMs) end
  if count > hardLimit then
    redis.call('DECR', counter)
    return -1
  end
  return count
end
