--[[
  Counts one event in the app's current rate window, unless the hard limit is reached. One call
  in the common case: the window's key is new once per window, so its expiry is set then, and a
  refused event is counted back out. (On one primary, acceptEvent-N.lua counts as this does.)
  KEYS[1] the app's counter for this window
  ARGV[1] hard limit;  ARGV[2] counter ttl ms
  Returns { the event's number in the window, or -1 when refused }.
]]
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if count > tonumber(ARGV[1]) then
  redis.call('DECR', KEYS[1])
  return { -1 }
end
return { count }
