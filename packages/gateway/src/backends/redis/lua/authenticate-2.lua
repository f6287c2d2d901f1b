--[[
  Finds a token by the SHA-256 of its secret and notes its use.
  KEYS[1] registry tokens hash (hash hex -> token JSON)
  KEYS[2] registry token-use hash (hash hex -> last use, ms)
  ARGV[1] hash hex;  ARGV[2] role ("app" | "agent");  ARGV[3] now, ms
  Returns the token JSON, or false when it is unknown, of another role or past its expiresAt.
]]
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return false end
local t = cjson.decode(raw)
if t.role ~= ARGV[2] then return false end
if type(t.expiresAt) == 'number' and t.expiresAt <= tonumber(ARGV[3]) then return false end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return raw
