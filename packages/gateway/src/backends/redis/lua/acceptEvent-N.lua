--[[
  A new event's admission, and its queueing, in one step where one Redis primary holds every key
  (the caller's `runsInSendOrder`): the rate count (countEvent), the agent's next order number,
  the event's record, the idempotency key's claim as claimKey-1.lua's common case makes it (only
  if free), then enqueue-15.lua's work (enqueueEvent), with no hold, for an event under the soft
  limit whose key was free and whose session has nothing left to queue ahead of it (ARGV[9]). Any
  other event counted is left for the caller to hold, or settle its key, and queue as it would
  without this script; it has its order number and its record. A refused event leaves nothing.
  KEYS[1..15] the agent's queue keys (include-dispatch.lua);  KEYS[16] the agent's order counter
  KEYS[17] the app's rate counter for this window;  KEYS[18] the event's record;
  KEYS[19] (optional) the idempotency key
  ARGV[1] hard limit;  ARGV[2] counter ttl ms;  ARGV[3] soft limit;  ARGV[4] event id;
  ARGV[5] session;  ARGV[6] expiresAt;  ARGV[7] now;  ARGV[8] maxIdleSessions;  ARGV[9] '' when
  nothing of the event's session is still to be queued ahead of it, else the id of the event of
  its session just before it: it may be queued here once that one is in the queue (so is every
  earlier one then);  ARGV[10] the record's ttl ms;  ARGV[11] the key's ttl ms ('' without a
  key);  ARGV[12..] the record's fields and values
  Returns { -1 } when refused, else { the event's number in the window, its order number, the
  event id the key already named or false, and when queued here dispatch's assigned, expired }.
]]
local count = countEvent(KEYS[17], tonumber(ARGV[1]), ARGV[2])
if count < 0 then return { -1 } end
-- written before the key is claimed: a key never names an event without a record
redis.call('HSET', KEYS[18], unpack(ARGV, 12))
redis.call('PEXPIRE', KEYS[18], ARGV[10])
local order = redis.call('INCR', KEYS[16])
local named = false
if #KEYS > 18 then named = redis.call('SET', KEYS[19], ARGV[4], 'PX', ARGV[11], 'NX', 'GET') end
-- over the soft limit the event is held to a later window, which the caller works out
if named or count > tonumber(ARGV[3]) then return { count, order, named } end
if ARGV[9] ~= '' and redis.call('HEXISTS', K.where, ARGV[9]) == 0 then return { count, order, named } end
local e = { session = ARGV[5], order = order, notBefore = 0, expiresAt = tonumber(ARGV[6]), attempts = 0, seq = 0 }
local queued = enqueueEvent(ARGV[4], e, tonumber(ARGV[7]), tonumber(ARGV[8]))
return { count, order, false, queued[1], queued[2] }
