--[[
  Counts one event in the app's current rate window, unless the hard limit is reached.
  KEYS[1] the app's counter for this window
  ARGV[1] hard limit;  ARGV[2] counter ttl ms
  Returns the event's number in the window, or -1 when refused.
]]
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count >= tonumber(ARGV[1]) then return -1 end
count = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return count
