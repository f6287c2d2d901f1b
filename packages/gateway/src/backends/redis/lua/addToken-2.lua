--[[
  Adds a token to an app or agent that exists, atomically with that check.
  KEYS[1] registry apps or agents hash;  KEYS[2] registry tokens hash
  ARGV[1] app or agent id;  ARGV[2] hash hex;  ARGV[3] token JSON
  Returns 1 when added, 0 when there is no such app or agent, -1 when the hash is known.
]]
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
if redis.call('HSETNX', KEYS[2], ARGV[2], ARGV[3]) == 0 then return -1 end
return 1
