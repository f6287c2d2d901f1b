--[[
  Writes the registry file into Redis.
  KEYS[1] apps hash;  KEYS[2] agents hash;  KEYS[3] tokens hash;  KEYS[4] token-use hash
  KEYS[5] marker: set once any registry has been written
  ARGV[1] "replace" (file mode: the file is the whole registry) or "if-empty" (admin mode: only a
          registry never written before is seeded; after that the admin API owns it)
  ARGV[2] number of apps;  ARGV[3] number of agents;  ARGV[4] number of tokens
  ARGV[5..] id, JSON pairs of the apps, then of the agents, then hash hex, JSON of the tokens
  Returns Code.Ok when written, Code.Unchanged when an existing registry was kept (see
  script-codes.ts).
]]
if ARGV[1] == 'if-empty' then
  local written = redis.call('EXISTS', KEYS[5]) == 1
    or redis.call('HLEN', KEYS[1]) > 0 or redis.call('HLEN', KEYS[2]) > 0 or redis.call('HLEN', KEYS[3]) > 0
  if written then
    redis.call('SET', KEYS[5], '1')
    return Code.Unchanged
  end
end
local used = {}
local i = 5 + 2 * (tonumber(ARGV[2]) + tonumber(ARGV[3]))
for n = 1, tonumber(ARGV[4]) do
  local hex = ARGV[i + 2 * (n - 1)]
  used[hex] = redis.call('HGET', KEYS[4], hex)
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
local at = 5
for _, key in ipairs({ KEYS[1], KEYS[2], KEYS[3] }) do
  local count = tonumber(ARGV[key == KEYS[1] and 2 or (key == KEYS[2] and 3 or 4)])
  for _ = 1, count do
    redis.call('HSET', key, ARGV[at], ARGV[at + 1])
    at = at + 2
  end
end
for hex, last in pairs(used) do
  if last then redis.call('HSET', KEYS[4], hex, last) end
end
redis.call('SET', KEYS[5], '1')
return Code.Ok
