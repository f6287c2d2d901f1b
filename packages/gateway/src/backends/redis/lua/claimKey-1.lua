--[[
  Points an idempotency key at an event, unless it names another one already.
  KEYS[1] idempotency key of (app, key)
  ARGV[1] event id;  ARGV[2] ttl ms
  ARGV[3] the event id the caller found the key naming and whose record is gone, or "": only
          then is the key taken over (compare-and-set, so two resends cannot both take it)
  Returns { 1 } when the key now names ARGV[1], else { 0, the event id it names }.
]]
local seen = redis.call('GET', KEYS[1])
if seen == ARGV[1] or not seen or (ARGV[3] ~= '' and seen == ARGV[3]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return { 1 }
end
return { 0, seen }
