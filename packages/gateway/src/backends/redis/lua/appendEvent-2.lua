--[[
  Records an accepted event, or finds the one first recorded under the idempotency key.
  KEYS[1] idempotency key of (app, key), or "" when the frame had none
  KEYS[2] the agent's accept-order counter
  ARGV[1] prefix of event keys (the event's key is prefix .. id);  ARGV[2] event id
  ARGV[3] idempotency ttl ms;  ARGV[4] event ttl ms
  ARGV[5..] field, value pairs of the event hash (without order / queued / finished)
  Returns { 0, order } for a new event, { 1, existing event id } for a known key.
]]
if KEYS[1] ~= '' then
  local seen = redis.call('GET', KEYS[1])
  -- a key whose event is gone (a crash between the two writes, or expiry) is free again
  if seen and redis.call('EXISTS', ARGV[1] .. seen) == 1 then
    return { 1, seen }
  end
end
local order = redis.call('INCR', KEYS[2])
local fields = { 'order', order, 'queued', '0', 'finished', '0' }
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', ARGV[1] .. ARGV[2], unpack(fields))
redis.call('PEXPIRE', ARGV[1] .. ARGV[2], ARGV[4])
if KEYS[1] ~= '' then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return { 0, order }
