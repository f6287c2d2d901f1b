--[[
  Takes every held final frame of an app, so no two connections both get one.
  KEYS[1] the app's outbox list
  Returns the entries (JSON), oldest first.
]]
local held = redis.call('LRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1])
return held
