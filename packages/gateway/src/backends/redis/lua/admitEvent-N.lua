--[[
  Counts one event in the app's current rate window, unless the hard limit is reached; and, with
  an idempotency key, claims it for the event in the same step, only if the event was counted.
  One call in the common case: the window's key is new once per window, so its expiry is set
  then, and a refused event is counted back out. The key is claimed as claimKey-1.lua's common
  case does: only if free (SET NX); the caller settles a key that names another event. Both keys
  are under the app's hash tag. The caller writes the event's record before this runs.
  KEYS[1] the app's counter for this window;  KEYS[2] (optional) the idempotency key of (app, key)
  ARGV[1] hard limit;  ARGV[2] counter ttl ms;  with KEYS[2]: ARGV[3] event id, ARGV[4] key ttl ms
  Returns { the event's number in the window, or -1 when refused; with KEYS[2] and counted, the
  event id the key already named, or false when it was free and now names ARGV[3] }.
]]
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if count > tonumber(ARGV[1]) then
  redis.call('DECR', KEYS[1])
  return { -1 }
end
if #KEYS < 2 then return { count } end
return { count, redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4], 'NX', 'GET') }
