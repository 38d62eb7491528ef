-- The per-sample group buffer of one run, atomically (see schedulers/stores/redis.py).
-- KEYS: 1 run record, 2 open groups (hash group -> "n;step;[ious]"), 3 their last-fed times
-- (zset), 4 their steps (zset), 5 sample tokens (zset, time), 6 closing groups (hash id -> JSON),
-- 7 runs with open groups (zset, member ARGV[13], score last add)
-- ARGV: 1 group ('' = only close what is due), 2 ious (JSON array text), 3 size, 4 step ('' = none),
-- 5 token ('' = none), 6 now, 7 timeout_s, 8 step_lag, 9 max_pending, 10 token_ttl_s,
-- 11 id prefix for closing entries, 12 reclaim_s, 13 this run's member in KEYS[7], 14 count of ious
-- Returns {duplicate (0/1), run record or false, open groups left, id1, doc1, id2, doc2, ...}: the
-- closing entries the caller must report (request id from the entry id) and then HDEL.
local run = redis.call('GET', KEYS[1])
if not run then
  redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
  redis.call('ZREM', KEYS[7], ARGV[13])
  return {0, false, 0}
end
local now = tonumber(ARGV[6])
local group = ARGV[1]
local out = {}
local seq = 0

local function closing(g, ious, st, complete)
  seq = seq + 1
  local id = ARGV[11] .. ':' .. seq
  local doc = cjson.encode({group = g, ious = ious, step = st, complete = complete, at = now})
  redis.call('HSET', KEYS[6], id, doc)
  out[#out + 1] = id
  out[#out + 1] = doc
end

local function take(g)
  local raw = redis.call('HGET', KEYS[2], g)
  if not raw then return end
  local _, st, ious = string.match(raw, '^(%d+);(%d*);(.*)$')
  redis.call('HDEL', KEYS[2], g)
  redis.call('ZREM', KEYS[3], g)
  redis.call('ZREM', KEYS[4], g)
  closing(g, ious, st, false)
end

local dup = 0
if group ~= '' then
  if ARGV[5] ~= '' then
    redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - tonumber(ARGV[10]))
    if redis.call('ZSCORE', KEYS[5], ARGV[5]) then
      dup = 1
    else
      redis.call('ZADD', KEYS[5], now, ARGV[5])
    end
  end
  if dup == 0 then
    local raw = redis.call('HGET', KEYS[2], group)
    local n, st, ious = 0, '', ARGV[2]
    if raw then
      local held
      n, st, held = string.match(raw, '^(%d+);(%d*);(.*)$')
      n = tonumber(n)
      ious = string.sub(held, 1, -2) .. ',' .. string.sub(ARGV[2], 2)
    end
    n = n + tonumber(ARGV[14])
    if ARGV[4] ~= '' and (st == '' or tonumber(st) < tonumber(ARGV[4])) then st = ARGV[4] end
    if n >= tonumber(ARGV[3]) then
      if raw then
        redis.call('HDEL', KEYS[2], group)
        redis.call('ZREM', KEYS[3], group)
        redis.call('ZREM', KEYS[4], group)
      end
      closing(group, ious, st, true)
    else
      redis.call('HSET', KEYS[2], group, n .. ';' .. st .. ';' .. ious)
      redis.call('ZADD', KEYS[3], now, group)
      if st ~= '' then redis.call('ZADD', KEYS[4], tonumber(st), group) end
    end
    redis.call('ZADD', KEYS[7], now, ARGV[13])
  end
end

-- Groups the policy closes: idle past the timeout, step_lag steps behind this step, the oldest past max_pending.
for _, g in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now - tonumber(ARGV[7]), 'LIMIT', 0, 512)) do
  if g ~= group then take(g) end
end
if ARGV[4] ~= '' then
  local upto = tonumber(ARGV[4]) - tonumber(ARGV[8])
  for _, g in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', upto, 'LIMIT', 0, 512)) do
    if g ~= group then take(g) end
  end
end
local excess = redis.call('HLEN', KEYS[2]) - tonumber(ARGV[9])
if excess > 0 then
  for _, g in ipairs(redis.call('ZRANGE', KEYS[3], 0, excess - 1)) do
    if g ~= group then take(g) end
  end
end

-- Closing entries whose reporter vanished (a crash between this script and its report) are handed out
-- again; reporting is idempotent on the entry id, so a slow reporter and a new one cannot both count it.
if redis.call('HLEN', KEYS[6]) > seq then
  local all = redis.call('HGETALL', KEYS[6])
  for i = 1, #all, 2 do
    local doc = cjson.decode(all[i + 1])
    if doc.at <= now - tonumber(ARGV[12]) then
      doc.at = now
      local text = cjson.encode(doc)
      redis.call('HSET', KEYS[6], all[i], text)
      out[#out + 1] = all[i]
      out[#out + 1] = text
    end
  end
end

local left = redis.call('HLEN', KEYS[2])
if left == 0 and redis.call('HLEN', KEYS[6]) == 0 then redis.call('ZREM', KEYS[7], ARGV[13]) end
local reply = {dup, run, left}
for i = 1, #out do reply[#reply + 1] = out[i] end
return reply
