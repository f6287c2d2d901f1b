--[[
  Writes a new event's record. Its accept order is not in it: that goes with the event's queue
  entry, which is on the agent's Redis Cluster slot with the order counter.
  KEYS[1] the event's record
  ARGV[1] event ttl ms;  ARGV[2..] field, value pairs of the record
  Returns Code.Ok.
]]
local fields = {}
for i = 2, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return Code.Ok
