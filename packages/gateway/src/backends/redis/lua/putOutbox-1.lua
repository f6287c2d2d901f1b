--[[
  Holds a final frame for an app; past the cap, the oldest held frames are dropped.
  KEYS[1] the app's outbox list
  ARGV[1] the held frame (JSON);  ARGV[2] cap;  ARGV[3] list ttl ms
  Returns the dropped entries (JSON), oldest first.
]]
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local dropped = {}
local excess = redis.call('LLEN', KEYS[1]) - tonumber(ARGV[2])
while excess > 0 do
  dropped[#dropped + 1] = redis.call('LPOP', KEYS[1])
  excess = excess - 1
end
return dropped
