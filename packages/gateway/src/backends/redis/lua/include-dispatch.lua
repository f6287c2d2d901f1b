--[[
  Shared by every delivery-queue script (prepended at load time): the delivery rules of the
  DeliveryQueue port, the same as backends/memory/delivery-queue.ts, checked by the same
  contract suite. All keys of one agent share the base `<prefix>:{agent:<id>}`:

    :waiting          ZSET  eventId by accept order
    :entries          HASH  eventId -> "session\norder\nnotBefore\nexpiresAt\nattempts"
    :where            HASH  eventId -> "w" (waiting) or the connId holding it
    :slots            HASH  connId -> "nodeId\nmaxInFlight"
    :slotorder        ZSET  connId by last time it took a new session (round robin among equals)
    :inflight:<conn>  ZSET  eventId by accept order, held by that connection
    :holders          HASH  session -> connId holding it
    :holders-lru      ZSET  session by last use
    :holders-of:<c>   SET   sessions held by connection c
    :sload            HASH  session -> events waiting or in flight
    :seq              counter for the two orderings above
]]

local function split(s)
  local out = {}
  for part in string.gmatch(s, '([^\n]*)\n?') do out[#out + 1] = part end
  return out
end

local function readEntry(base, id)
  local raw = redis.call('HGET', base .. ':entries', id)
  if not raw then return nil end
  local f = split(raw)
  return { session = f[1], order = tonumber(f[2]), notBefore = tonumber(f[3]), expiresAt = tonumber(f[4]), attempts = tonumber(f[5]) }
end

local function writeEntry(base, id, e)
  redis.call('HSET', base .. ':entries', id,
    e.session .. '\n' .. e.order .. '\n' .. e.notBefore .. '\n' .. e.expiresAt .. '\n' .. e.attempts)
end

local function nextSeq(base)
  return redis.call('INCR', base .. ':seq')
end

--- Drops an event from the bookkeeping (not from :waiting or :inflight, which callers handle).
local function forget(base, id, session)
  redis.call('HDEL', base .. ':entries', id)
  redis.call('HDEL', base .. ':where', id)
  if redis.call('HINCRBY', base .. ':sload', session, -1) <= 0 then
    redis.call('HDEL', base .. ':sload', session)
  end
end

local function loadSlots(base)
  local slots, list = {}, {}
  local raw = redis.call('HGETALL', base .. ':slots')
  for i = 1, #raw, 2 do
    local f = split(raw[i + 1])
    local conn = raw[i]
    local slot = {
      conn = conn, node = f[1], max = tonumber(f[2]),
      count = redis.call('ZCARD', base .. ':inflight:' .. conn),
      rr = tonumber(redis.call('ZSCORE', base .. ':slotorder', conn) or '0'),
    }
    slots[conn] = slot
    list[#list + 1] = slot
  end
  return slots, list
end

--- The connection this session's next event goes to, claiming the least loaded one if it has none.
local function slotFor(base, slots, list, session)
  local holder = redis.call('HGET', base .. ':holders', session)
  if holder and slots[holder] then
    redis.call('ZADD', base .. ':holders-lru', nextSeq(base), session)
    return slots[holder]
  end
  local best
  for _, slot in ipairs(list) do
    if slot.count < slot.max and (not best or slot.count < best.count or (slot.count == best.count and slot.rr < best.rr)) then
      best = slot
    end
  end
  if not best then return nil end
  redis.call('HSET', base .. ':holders', session, best.conn)
  redis.call('SADD', base .. ':holders-of:' .. best.conn, session)
  redis.call('ZADD', base .. ':holders-lru', nextSeq(base), session)
  best.rr = nextSeq(base)
  redis.call('ZADD', base .. ':slotorder', best.rr, best.conn)
  return best
end

--- Past maxIdle sessions, forgets the least recently used ones with nothing pending.
local function evictIdleHolders(base, maxIdle)
  local excess = redis.call('HLEN', base .. ':holders') - maxIdle
  if excess <= 0 then return end
  local candidates = redis.call('ZRANGE', base .. ':holders-lru', 0, excess * 2 + 16)
  for _, session in ipairs(candidates) do
    if excess <= 0 then break end
    if not redis.call('HGET', base .. ':sload', session) then
      local conn = redis.call('HGET', base .. ':holders', session)
      redis.call('HDEL', base .. ':holders', session)
      redis.call('ZREM', base .. ':holders-lru', session)
      if conn then redis.call('SREM', base .. ':holders-of:' .. conn, session) end
      excess = excess - 1
    end
  end
end

--- One pass over the waiting events in accept order; a session that cannot go blocks its later
--- events. Returns { {eventId, connId, nodeId, attempt}... }, { expiredId... }.
local function dispatch(base, now, maxIdle)
  local assigned, expired = {}, {}
  local slots, list = loadSlots(base)
  local free = 0
  for _, slot in ipairs(list) do free = free + math.max(0, slot.max - slot.count) end
  if free == 0 then return assigned, expired end
  local blocked = {}
  for _, id in ipairs(redis.call('ZRANGE', base .. ':waiting', 0, -1)) do
    if free == 0 then break end
    local e = readEntry(base, id)
    if e.expiresAt <= now then
      redis.call('ZREM', base .. ':waiting', id)
      forget(base, id, e.session)
      expired[#expired + 1] = id
    elseif not blocked[e.session] then
      local slot
      if e.notBefore <= now then slot = slotFor(base, slots, list, e.session) end
      if not slot or slot.count >= slot.max then
        blocked[e.session] = true
      else
        e.attempts = e.attempts + 1
        writeEntry(base, id, e)
        redis.call('ZREM', base .. ':waiting', id)
        redis.call('HSET', base .. ':where', id, slot.conn)
        redis.call('ZADD', base .. ':inflight:' .. slot.conn, e.order, id)
        slot.count = slot.count + 1
        free = free - 1
        assigned[#assigned + 1] = { id, slot.conn, slot.node, e.attempts }
      end
    end
  end
  evictIdleHolders(base, maxIdle)
  return assigned, expired
end
