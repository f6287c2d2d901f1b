--[[
  Merges a batch of event rows into the Dashboard's recent events and trims the index to the
  bounds. Only rows still in the index are written, so a row dropped here is not made again by a
  late update; the caller deletes the dropped rows' hashes.
  KEYS[1] index: event ids by accept time;  KEYS[2..] each row's hash, in ARGV's order
  ARGV[1] oldest accept time kept, ms;  ARGV[2] rows kept at most;  ARGV[3] ttl, ms
  then per row: event id, accept time, how many field/value pairs follow, the pairs
  Returns the ids dropped from the index.
]]
local rows = {}
local i = 4
for r = 2, #KEYS do
  local count = tonumber(ARGV[i + 2])
  rows[#rows + 1] = { key = KEYS[r], id = ARGV[i], from = i + 3, to = i + 2 + 2 * count }
  redis.call('ZADD', KEYS[1], ARGV[i + 1], ARGV[i])
  i = i + 3 + 2 * count
end

local oldest = '(' .. ARGV[1]
local dropped = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', oldest)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', oldest)
local past = -(tonumber(ARGV[2]) + 1)
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, past)) do dropped[#dropped + 1] = id end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, past)

for _, row in ipairs(rows) do
  if redis.call('ZSCORE', KEYS[1], row.id) then
    if row.to >= row.from then redis.call('HSET', row.key, unpack(ARGV, row.from, row.to)) end
    redis.call('PEXPIRE', row.key, ARGV[3])
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return dropped
