--[[
  An event's end in one step where one primary holds every key: finishEvent (include-finish.lua),
  its final noted as not yet handed on, then the event out of its agent's queue wherever it is,
  finished or not (removeEvent, include-dispatch.lua): an event that had ended is taken out too,
  as its finisher may have died before doing so.
  KEYS[1..15] the agent's queue keys;  KEYS[16] the event's record;  KEYS[17] the finals not yet
  handed on
  ARGV[1] event id;  ARGV[2] now, ms;  ARGV[3] maxIdleSessions;  ARGV[4] how long to keep the
  finished record, ms;  ARGV[5] the final frame
  Returns { finishEvent's answer, removeEvent's answer }
]]
local now = tonumber(ARGV[2])
local finished = finishEvent(KEYS[16], KEYS[17], ARGV[4], ARGV[5], now, ARGV[1])
return { finished, removeEvent(ARGV[1], false, now, tonumber(ARGV[3])) }
