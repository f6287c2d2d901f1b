--[[
  Merges event rows into the Dashboard's recent events, then drops the rows past the bounds,
  fields and all. Every row is in one hash, field `<event id>|<name>`, so a dropped row leaves
  nothing behind (a hash per row outlived its place in the index by the whole retention).
  KEYS[1] index: event ids by accept time;  KEYS[2] rows
  ARGV[1] oldest accept time kept, ms;  ARGV[2] rows kept at most;  ARGV[3] ttl of both keys, ms
  ARGV[4] how many names follow, then every name a row's field may have
  then per row: event id, accept time, how many name/value pairs follow, the pairs
]]
local names = {}
for k = 1, tonumber(ARGV[4]) do names[k] = ARGV[4 + k] end
local i = 5 + #names
while i <= #ARGV do
  local id, at, count = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local fields = {}
  for j = 0, count - 1 do
    fields[#fields + 1] = id .. '|' .. ARGV[i + 3 + 2 * j]
    fields[#fields + 1] = ARGV[i + 4 + 2 * j]
  end
  if #fields > 0 then redis.call('HSET', KEYS[2], unpack(fields)) end
  redis.call('ZADD', KEYS[1], at, id)
  i = i + 3 + 2 * count
end

local function drop(ids)
  for _, id in ipairs(ids) do
    local fields = {}
    for k, name in ipairs(names) do fields[k] = id .. '|' .. name end
    redis.call('HDEL', KEYS[2], unpack(fields))
    redis.call('ZREM', KEYS[1], id)
  end
end
drop(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1]))
drop(redis.call('ZRANGE', KEYS[1], 0, -(tonumber(ARGV[2]) + 1)))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 0
