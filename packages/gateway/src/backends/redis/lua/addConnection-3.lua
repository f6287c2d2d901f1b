--[[
  Adds a connection to presence unless its app or agent already holds `limit` places: the check
  and the add are one step, so two nodes can never both hand out the last place.
  KEYS[1] every connection (hash connId -> JSON);  KEYS[2] the app's or agent's connection set;
  KEYS[3] the node's connection set
  ARGV    connId, info (JSON), limit
  Returns 1 when the connection holds a place (also when it already did), 0 when refused.
]]
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return 1 end
if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
return 1
