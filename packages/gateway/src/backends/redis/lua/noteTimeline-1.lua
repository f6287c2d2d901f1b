--[[
  Adds a step to an event's timeline.
  KEYS[1] the event's timeline list
  ARGV[1] step JSON;  ARGV[2] most steps kept;  ARGV[3] retention ms (from this step)
  ARGV[4] "1" for a step that is kept even past the most (the final one)
  Returns Code.Ok when added, Code.Unchanged when the timeline was full (see script-codes.ts).
]]
if ARGV[4] ~= '1' and redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[2]) then return Code.Unchanged end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return Code.Ok
