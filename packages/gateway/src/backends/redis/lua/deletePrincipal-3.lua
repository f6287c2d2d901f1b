--[[
  Removes an app or agent and every token of it, in one step: no token outlives its owner.
  KEYS[1] registry apps or agents hash;  KEYS[2] registry tokens hash;  KEYS[3] token-use hash
  ARGV[1] role ("app" | "agent");  ARGV[2] id
  Returns false when there was no such app or agent, else the removed tokens' JSON.
]]
if redis.call('HDEL', KEYS[1], ARGV[2]) == 0 then return false end
local removed = {}
local all = redis.call('HGETALL', KEYS[2])
for i = 1, #all, 2 do
  local t = cjson.decode(all[i + 1])
  if t.role == ARGV[1] and t.principalId == ARGV[2] then
    redis.call('HDEL', KEYS[2], all[i])
    redis.call('HDEL', KEYS[3], all[i])
    removed[#removed + 1] = all[i + 1]
  end
end
return removed
