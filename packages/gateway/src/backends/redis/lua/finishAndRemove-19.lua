--[[
  An event's end in one step where one primary holds every key: finishEvent (include-finish.lua),
  its final noted as not yet handed on; if that ended it, its expiry cancelled and its token
  stream kept for its retention from now, its attempt named if it was ever assigned and no
  later attempt named one (a first attempt's delivery writes nothing: token-stream.ts); then the
  event out of its agent's queue wherever it is, ended here or before (removeEvent,
  include-dispatch.lua): an event that had ended is taken out too, as its finisher may have died
  before doing so.
  KEYS[1..15] the agent's queue keys;  KEYS[16] the event's record;  KEYS[17] the finals not yet
  handed on;  KEYS[18] the expiries' set (expiry-sweep.ts);  KEYS[19] the event's token stream
  ARGV[1] event id;  ARGV[2] now, ms;  ARGV[3] maxIdleSessions;  ARGV[4] how long to keep the
  finished record, ms;  ARGV[5] the final frame;  ARGV[6] the event's member of the expiries'
  set;  ARGV[7] the stream's retention, ms
  Returns { finishEvent's answer, removeEvent's answer }
]]
local now = tonumber(ARGV[2])
local finished = finishEvent(KEYS[16], KEYS[17], ARGV[4], ARGV[5], now, ARGV[1])
if finished then
  redis.call('ZREM', KEYS[18], ARGV[6])
  local e = readEntry(ARGV[1])
  if e and e.attempts >= 1 then redis.call('HSETNX', KEYS[19], 'a', '1') end
  redis.call('PEXPIRE', KEYS[19], ARGV[7])
end
return { finished, removeEvent(ARGV[1], false, now, tonumber(ARGV[3])) }
