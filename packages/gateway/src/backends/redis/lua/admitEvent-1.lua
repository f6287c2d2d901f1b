--[[
  Counts one event in the app's current rate window, unless the hard limit is reached
  (countEvent, include-rate.lua).
  KEYS[1] the app's counter for this window
  ARGV[1] hard limit;  ARGV[2] counter ttl ms
  Returns { the event's number in the window, or -1 when refused }.
]]
return { countEvent(KEYS[1], tonumber(ARGV[1]), ARGV[2]) }
