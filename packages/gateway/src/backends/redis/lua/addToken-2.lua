--[[
  Adds a token to an app or agent that exists, atomically with that check.
  KEYS[1] registry apps or agents hash;  KEYS[2] registry tokens hash
  ARGV[1] app or agent id;  ARGV[2] hash hex;  ARGV[3] token JSON
  Returns Code.Ok when added, Code.Missing when there is no such app or agent, Code.Taken when
  the hash is known (see script-codes.ts).
]]
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return Code.Missing end
if redis.call('HSETNX', KEYS[2], ARGV[2], ARGV[3]) == 0 then return Code.Taken end
return Code.Ok
