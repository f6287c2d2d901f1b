--[[
  Shared by every delivery-queue script (prepended at load time): the delivery rules of the
  DeliveryQueue port, the same as backends/memory/delivery-queue.ts, checked by the same
  contract suite. Every queue script takes one agent's queue keys as KEYS[1..15], in this order
  (keys.ts agentQueue), all under the agent's hash tag; no key name is built here.

    1  entries      HASH  eventId -> "session\norder\nnotBefore\nexpiresAt\nattempts\nseq"
    2  where        HASH  eventId -> "w" (waiting) or the connId holding it
    3  slots        HASH  connId -> "nodeId\nmaxInFlight\nassigned" (assigned: the last seq given)
    4  slotorder    ZSET  connId by the last time it took a new session (round robin among equals)
    5  inflight     ZSET  "connId\0eventId" (score 0, read by lex range): events in flight, by connection
    6  holders      HASH  session -> connId holding it
    7  holders-lru  ZSET  session by last use
    8  holders-of   ZSET  "connId\0session" (score 0): sessions held, by connection
    9  sload        HASH  session -> events waiting or in flight
    10 seq          counter for the orderings of slotorder and holders-lru
    11 sessq        ZSET  "session\0order\0eventId" (score 0, order in 16 digits): waiting events,
                          by session in accept order
    12 ready        ZSET  session by the accept order of its first waiting event
    13 held         ZSET  session by the notBefore of its first waiting event (a rate-limit hold),
                          or its expiresAt if sooner
    14 parked       ZSET  "connId\0order\0session" (score 0): sessions whose holder is full, by
                          the accept order of their first waiting event
    15 sstate       HASH  session -> "r" (in ready), "h" (in held) or its member of parked

  A session with waiting events is in exactly one of ready, held and parked. Dispatch looks only
  at sessions that can move (the first of ready, and the first parked on each connection with
  room), so its cost grows with what it assigns, log n each, never with what waits behind a full
  connection or a hold. Session keys and connection ids never contain "\0".
]]

local K = {
  entries = KEYS[1], where = KEYS[2], slots = KEYS[3], slotorder = KEYS[4], inflight = KEYS[5],
  holders = KEYS[6], lru = KEYS[7], holdersOf = KEYS[8], sload = KEYS[9], seq = KEYS[10],
  sessq = KEYS[11], ready = KEYS[12], held = KEYS[13], parked = KEYS[14], sstate = KEYS[15],
}

local function split(s)
  local out = {}
  for part in string.gmatch(s, '([^\n]*)\n?') do out[#out + 1] = part end
  return out
end

local function pad(order)
  return string.format('%016d', order)
end

--- Members "<prefix>\0..." of a lex-ordered set, in order (at most `limit` when given).
local function under(key, prefix, limit)
  if limit then
    return redis.call('ZRANGEBYLEX', key, '[' .. prefix .. '\0', '(' .. prefix .. '\1', 'LIMIT', 0, limit)
  end
  return redis.call('ZRANGEBYLEX', key, '[' .. prefix .. '\0', '(' .. prefix .. '\1')
end

--- What follows "<prefix>\0" in a member.
local function after(member, prefix)
  return string.sub(member, #prefix + 2)
end

local function readEntry(id)
  local raw = redis.call('HGET', K.entries, id)
  if not raw then return nil end
  local f = split(raw)
  return {
    session = f[1], order = tonumber(f[2]), notBefore = tonumber(f[3]), expiresAt = tonumber(f[4]),
    attempts = tonumber(f[5]), seq = tonumber(f[6]) or 0,
  }
end

local function writeEntry(id, e)
  redis.call('HSET', K.entries, id, e.session .. '\n' .. e.order .. '\n' .. e.notBefore .. '\n' .. e.expiresAt .. '\n' .. e.attempts .. '\n' .. e.seq)
end

local function nextSeq()
  return redis.call('INCR', K.seq)
end

local function queuedMember(id, e)
  return e.session .. '\0' .. pad(e.order) .. '\0' .. id
end

--- The first waiting event of a session: its id and entry, or nil.
local function headOf(session)
  local m = under(K.sessq, session, 1)[1]
  if not m then return nil end
  local id = string.sub(after(m, session), 18)
  return id, readEntry(id)
end

local function unplace(session)
  local state = redis.call('HGET', K.sstate, session)
  if not state then return end
  if state == 'r' then redis.call('ZREM', K.ready, session)
  elseif state == 'h' then redis.call('ZREM', K.held, session)
  else redis.call('ZREM', K.parked, state) end
  redis.call('HDEL', K.sstate, session)
end

--- Files a session by its first waiting event: ready, held until its notBefore, or nowhere.
local function place(session, now)
  unplace(session)
  local id, e = headOf(session)
  if not id then return end
  if e.notBefore > now and e.expiresAt > now then
    -- a held event that expires first ends then, and lets the next one go
    redis.call('ZADD', K.held, math.min(e.notBefore, e.expiresAt), session)
    redis.call('HSET', K.sstate, session, 'h')
  else
    redis.call('ZADD', K.ready, e.order, session)
    redis.call('HSET', K.sstate, session, 'r')
  end
end

--- Sets a session aside until its full holder has room again.
local function park(session, conn, order)
  unplace(session)
  local member = conn .. '\0' .. pad(order) .. '\0' .. session
  redis.call('ZADD', K.parked, 0, member)
  redis.call('HSET', K.sstate, session, member)
end

--- Puts an event (its entry written) among the waiting ones at its accept order.
local function addWaiting(id, e, now)
  redis.call('ZADD', K.sessq, 0, queuedMember(id, e))
  redis.call('HSET', K.where, id, 'w')
  -- only a new first event changes where its session is filed
  if headOf(e.session) == id then place(e.session, now) end
end

--- Takes a waiting event out of its session's queue.
local function removeWaiting(id, e, now)
  local first = headOf(e.session) == id
  redis.call('ZREM', K.sessq, queuedMember(id, e))
  if first then place(e.session, now) end
end

--- Drops an event from the bookkeeping (not from sessq or inflight, which callers handle).
local function forget(id, session)
  redis.call('HDEL', K.entries, id)
  redis.call('HDEL', K.where, id)
  if redis.call('HINCRBY', K.sload, session, -1) <= 0 then
    redis.call('HDEL', K.sload, session)
  end
end

local function loadSlots()
  local slots, list = {}, {}
  local raw = redis.call('HGETALL', K.slots)
  for i = 1, #raw, 2 do
    local f = split(raw[i + 1])
    local conn = raw[i]
    local slot = {
      conn = conn, node = f[1], max = tonumber(f[2]), assigned = tonumber(f[3]) or 0,
      count = redis.call('ZLEXCOUNT', K.inflight, '[' .. conn .. '\0', '(' .. conn .. '\1'),
      -- rr, its place in the round robin, is read only when a session needs a new holder
    }
    slots[conn] = slot
    list[#list + 1] = slot
  end
  return slots, list
end

--- Hands a due event (out of the waiting sets) to a connection with room: the event's attempt and
--- the connection's count of assignments (the event's seq) go up by one. Returns the assignment.
local function assign(id, e, slot)
  e.attempts = e.attempts + 1
  slot.assigned = slot.assigned + 1
  e.seq = slot.assigned
  writeEntry(id, e)
  redis.call('HSET', K.slots, slot.conn, slot.node .. '\n' .. slot.max .. '\n' .. slot.assigned)
  redis.call('HSET', K.where, id, slot.conn)
  redis.call('ZADD', K.inflight, 0, slot.conn .. '\0' .. id)
  slot.count = slot.count + 1
  return { id, slot.conn, slot.node, e.attempts, e.seq }
end

--- A connection's place in the round robin among equally loaded ones: the last time it took a new session.
local function rrOf(slot)
  if slot.rr == nil then slot.rr = tonumber(redis.call('ZSCORE', K.slotorder, slot.conn) or '0') end
  return slot.rr
end

--- The connection this session's next event goes to, claiming the least loaded one if it has none.
--- `holder`: the session's holder if the caller has read it already (false for none).
local function slotFor(slots, list, session, holder)
  if holder == nil then holder = redis.call('HGET', K.holders, session) end
  if holder and slots[holder] then
    redis.call('ZADD', K.lru, nextSeq(), session)
    return slots[holder]
  end
  local best
  for _, slot in ipairs(list) do
    if slot.count < slot.max and (not best or slot.count < best.count or (slot.count == best.count and rrOf(slot) < rrOf(best))) then
      best = slot
    end
  end
  if not best then return nil end
  redis.call('HSET', K.holders, session, best.conn)
  redis.call('ZADD', K.holdersOf, 0, best.conn .. '\0' .. session)
  redis.call('ZADD', K.lru, nextSeq(), session)
  best.rr = nextSeq()
  redis.call('ZADD', K.slotorder, best.rr, best.conn)
  return best
end

--- How many sessions are held past maxIdle (none if 0 or less).
local function holdersPastIdle(maxIdle)
  return redis.call('HLEN', K.holders) - maxIdle
end

--- Past maxIdle sessions, forgets the least recently used ones with nothing pending.
local function evictIdleHolders(maxIdle)
  local excess = holdersPastIdle(maxIdle)
  if excess <= 0 then return end
  local candidates = redis.call('ZRANGE', K.lru, 0, excess * 2 + 16)
  for _, session in ipairs(candidates) do
    if excess <= 0 then break end
    if not redis.call('HGET', K.sload, session) then
      local conn = redis.call('HGET', K.holders, session)
      redis.call('HDEL', K.holders, session)
      redis.call('ZREM', K.lru, session)
      if conn then redis.call('ZREM', K.holdersOf, conn .. '\0' .. session) end
      excess = excess - 1
    end
  end
end

--- The session whose first waiting event comes first in accept order among those that can
--- move: the first ready one, or the first parked on a connection with room.
local function nextSession(list)
  local session, order
  local r = redis.call('ZRANGE', K.ready, 0, 0, 'WITHSCORES')
  if r[1] then session, order = r[1], tonumber(r[2]) end
  for _, slot in ipairs(list) do
    if slot.count < slot.max then
      local m = under(K.parked, slot.conn, 1)[1]
      if m then
        local rest = after(m, slot.conn)
        local o = tonumber(string.sub(rest, 1, 16))
        if not order or o < order then session, order = string.sub(rest, 18), o end
      end
    end
  end
  return session
end

--- Assigns waiting events in accept order, as one pass over them all would: a session that
--- cannot go holds back its later events. Returns { {eventId, connId, nodeId, attempt, seq}... },
--- { expiredId... }: waiting events met past their expiresAt (the scheduler's expiry finds
--- the others). `slots` and `list`: loadSlots() as read earlier in the same script, if it was.
local function dispatch(now, maxIdle, slots, list)
  local assigned, expired = {}, {}
  -- Nothing waits (so no session is filed anywhere) and no holder is past the idle limit: what
  -- follows would find nothing to do. The commonest case after an answer.
  if redis.call('ZCARD', K.sessq) == 0 and holdersPastIdle(maxIdle) <= 0 then return assigned, expired end
  if not slots then slots, list = loadSlots() end
  local free = 0
  for _, slot in ipairs(list) do free = free + math.max(0, slot.max - slot.count) end
  if free == 0 then return assigned, expired end
  for _, session in ipairs(redis.call('ZRANGEBYSCORE', K.held, '-inf', now)) do place(session, now) end
  while free > 0 do
    local session = nextSession(list)
    if not session then break end
    local id, e = headOf(session)
    if not id then
      unplace(session)
    elseif e.expiresAt <= now then
      removeWaiting(id, e, now)
      forget(id, session)
      expired[#expired + 1] = id
    elseif e.notBefore > now then
      place(session, now)
    else
      local slot = slotFor(slots, list, session)
      if not slot then break end
      if slot.count >= slot.max then
        park(session, slot.conn, e.order)
      else
        removeWaiting(id, e, now)
        assigned[#assigned + 1] = assign(id, e, slot)
        free = free - 1
      end
    end
  end
  evictIdleHolders(maxIdle)
  return assigned, expired
end

--- Hands out a new event (its entry not yet written) at once, as dispatch would after filing it,
--- without passing it through the waiting sets: when it is due, the first of its session, nothing
--- else waiting could move (so it comes first in accept order among what can), and its session's
--- connection, or one it may claim, has room. The commonest case by far: an agent keeping up.
--- Returns dispatch's { assigned, expired }, or nil when any of that does not hold, having
--- changed nothing; the caller then files the event and dispatches as usual, with the
--- connections' loads if this read them (nil, nil, slots, list).
local function assignAtOnce(id, e, now, maxIdle)
  if e.notBefore > now or e.expiresAt <= now then return nil end
  -- With nothing waiting there is nothing to overtake, and ready, held and parked, which file
  -- only sessions with waiting events, are empty: the commonest case, in one read.
  local others = redis.call('ZCARD', K.sessq) > 0
  if others then
    if under(K.sessq, e.session, 1)[1] then return nil end
    -- holds that have passed since the last call: dispatch would file them first
    if redis.call('ZRANGEBYSCORE', K.held, '-inf', now, 'LIMIT', 0, 1)[1] then return nil end
    -- each script's dispatch leaves no ready session, and none parked on a connection with room,
    -- while a place is free; checked anyway, so an event can never overtake one on that account
    if redis.call('ZCARD', K.ready) > 0 then return nil end
  end
  local slots, list = loadSlots()
  if others then
    for _, slot in ipairs(list) do
      if slot.count < slot.max and under(K.parked, slot.conn, 1)[1] then return nil, nil, slots, list end
    end
  end
  -- a full holder would park the session: checked before slotFor, which records the use
  local holder = redis.call('HGET', K.holders, e.session)
  if holder and slots[holder] and slots[holder].count >= slots[holder].max then return nil, nil, slots, list end
  local slot = slotFor(slots, list, e.session, holder)
  if not slot then return nil, nil, slots, list end
  local a = assign(id, e, slot)
  evictIdleHolders(maxIdle)
  return { a }, {}
end


--- Adds an accepted event (entry `e`, its attempts 0) to the queue and assigns what can go at
--- once. An event enqueued before (a retried call, or a resend) is only dispatched: one in flight
--- is reported as assigned again, to the same connection with the same attempt and seq, as the node that
--- assigned it may have died before sending it there. Returns dispatch's { assigned, expired }.
local function enqueueEvent(id, e, now, maxIdle)
  local where = redis.call('HGET', K.where, id)
  if where then
    local a, x = dispatch(now, maxIdle)
    local slot = where ~= 'w' and redis.call('HGET', K.slots, where)
    if slot then
      local e = readEntry(id)
      a[#a + 1] = { id, where, split(slot)[1], e.attempts, e.seq }
    end
    return { a, x }
  end
  redis.call('HINCRBY', K.sload, e.session, 1)
  local a, x, slots, list = assignAtOnce(id, e, now, maxIdle)
  if a then return { a, x } end
  writeEntry(id, e)
  addWaiting(id, e, now)
  -- the loads read above still hold: filing a waiting event changes no connection's
  a, x = dispatch(now, maxIdle, slots, list)
  return { a, x }
end

--- Takes an event out of the queue wherever it is (or, with onlyIfWaiting, only if waiting), and
--- assigns what that frees. Returns { was ("waiting" | "in-flight" | ""), connId or "", assigned, expired }.
local function removeEvent(id, onlyIfWaiting, now, maxIdle)
  local where = redis.call('HGET', K.where, id)
  if not where then return { '', '', {}, {} } end
  local e = readEntry(id)
  if where == 'w' then
    removeWaiting(id, e, now)
    forget(id, e.session)
    local a, x = dispatch(now, maxIdle)
    return { 'waiting', '', a, x }
  end
  if onlyIfWaiting then return { 'in-flight', where, {}, {} } end
  redis.call('ZREM', K.inflight, where .. '\0' .. id)
  forget(id, e.session)
  local a, x = dispatch(now, maxIdle)
  return { 'in-flight', where, a, x }
end
