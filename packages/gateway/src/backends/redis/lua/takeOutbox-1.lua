--[[
  Takes the oldest held final frames of an app, one piece: until their text reaches ARGV[1]
  bytes (the frame that reaches it included) or ARGV[2] frames. Taken frames leave the list, so
  no two connections both get one; the rest stays where it is, untouched.
  KEYS[1] the app's outbox list
  ARGV[1] bytes per piece;  ARGV[2] frames per piece
  Returns the entries (JSON), oldest first; empty once the list is.
]]
local taken, bytes = {}, 0
local maxBytes, maxFrames = tonumber(ARGV[1]), tonumber(ARGV[2])
while bytes < maxBytes and #taken < maxFrames do
  local entry = redis.call('LPOP', KEYS[1])
  if not entry then break end
  taken[#taken + 1] = entry
  bytes = bytes + #entry
end
return taken
