--[[
  An event's finish, shared by finishEvent-N.lua and finishAndRemove-19.lua (prepended at load
  time). Marks the event finished, once: the caller that gets the record sends the one final
  frame. The frame is kept in the record; the payload is dropped: a finished event is never
  delivered again (dropped first, so that a long payload is not read; a finished record has none
  to drop). The record is kept `keepMs`, or, if it was recorded under an idempotency key, until
  that key lapses (the record's `idemUntil`): a resend under the key is answered from the record
  (its `accepted`, its final). With `pending` (where one primary holds every key), the final is
  noted there as not yet handed on, in the same step.
  Returns the record as it was before this call, without its payload, as a flat field/value list
  (the caller has the final it adds), or false if missing or already finished.
]]
local function finishEvent(record, pending, keepMs, final, now, id)
  redis.call('HDEL', record, 'payload')
  local fields = redis.call('HGETALL', record)
  local finished, idemUntil = nil, 0
  for i = 1, #fields, 2 do
    if fields[i] == 'finished' then finished = fields[i + 1]
    elseif fields[i] == 'idemUntil' then idemUntil = tonumber(fields[i + 1]) end
  end
  if finished ~= '0' then return false end
  redis.call('HSET', record, 'finished', '1', 'final', final)
  if pending then redis.call('ZADD', pending, 'NX', now, id) end
  local keep = tonumber(keepMs)
  if idemUntil - now > keep then keep = idemUntil - now end
  redis.call('PEXPIRE', record, keep)
  return fields
end
