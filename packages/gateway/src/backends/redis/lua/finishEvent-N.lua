--[[
  Marks an event finished, once (include-finish.lua). On a Redis Cluster only the record is
  touched, so it may sit on any slot, and the caller notes the final as not yet handed on before
  (see event-store.ts); where one primary holds every key, KEYS[2] notes it in the same step.
  KEYS[1] event key;  KEYS[2] (optional) the finals not yet handed on
  ARGV[1] how long to keep the finished record, ms;  ARGV[2] the final frame;  ARGV[3] now, ms;
  with KEYS[2]: ARGV[4] the event id
  Returns the record as it was, without its payload, flat, or false if missing or already finished.
]]
return finishEvent(KEYS[1], KEYS[2], ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4])
