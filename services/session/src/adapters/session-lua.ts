/*
 * The sessions keyspace's Lua scripts. Each touches only the one key it is given (a user's
 * sessions hash, or one due-index shard). Records are JSON with the codec's field names
 * (session-codec.ts); cjson keeps 14 significant digits, enough for epoch milliseconds.
 */

const END_EXPIRED = `
local function end_expired(key, sid, rec, now)
  if rec.s == 'live' and (rec.e <= now or rec.m <= now) then
    rec.s = 'ended'; rec.r = 'expiry'; rec.x = now
    redis.call('HSET', key, sid, cjson.encode(rec))
    return true
  end
  return false
end
local function keep_for(key, until_ms, now, retention)
  local wanted = until_ms - now + retention
  if redis.call('PTTL', key) < wanted then redis.call('PEXPIRE', key, wanted) end
end
`;

/**
 * ARGV: now, session id, record JSON, cap, retention, the new session's expiry. Ends expired
 * sessions, evicts the oldest live ones beyond `cap - 1`, stores the new one. Returns the ended
 * sessions as `[id, reason, ...]`.
 */
export const CREATE_LUA = `${END_EXPIRED}
local now, cap, retention = tonumber(ARGV[1]), tonumber(ARGV[4]), tonumber(ARGV[5])
local all = redis.call('HGETALL', KEYS[1])
local live, ended = {}, {}
for i = 1, #all, 2 do
  local sid, rec = all[i], cjson.decode(all[i + 1])
  if end_expired(KEYS[1], sid, rec, now) then
    table.insert(ended, sid); table.insert(ended, 'expiry')
  elseif rec.s == 'live' then
    table.insert(live, { sid, rec.c, rec })
  end
end
table.sort(live, function(x, y) if x[2] == y[2] then return x[1] < y[1] end return x[2] < y[2] end)
while #live >= cap do
  local victim = table.remove(live, 1)
  local rec = victim[3]
  rec.s = 'ended'; rec.r = 'eviction'; rec.x = now
  redis.call('HSET', KEYS[1], victim[1], cjson.encode(rec))
  table.insert(ended, victim[1]); table.insert(ended, 'eviction')
end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
keep_for(KEYS[1], tonumber(ARGV[6]), now, retention)
return ended
`;

/** ARGV: session id, digest, now, idle TTL, retention. Returns the slid record, or false. */
export const TOUCH_LUA = `${END_EXPIRED}
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return false end
local rec, now = cjson.decode(raw), tonumber(ARGV[3])
if rec.s ~= 'live' or rec.d ~= ARGV[2] then return false end
if end_expired(KEYS[1], ARGV[1], rec, now) then return false end
rec.l = now
rec.e = math.min(now + tonumber(ARGV[4]), rec.m)
local encoded = cjson.encode(rec)
redis.call('HSET', KEYS[1], ARGV[1], encoded)
keep_for(KEYS[1], rec.e, now, tonumber(ARGV[5]))
return encoded
`;

/**
 * ARGV: session id, digest ('' = do not check), reason, now. Returns the record when this call
 * ended a live session, false otherwise (unknown, already ended, or just found expired).
 */
export const END_LUA = `${END_EXPIRED}
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return false end
local rec, now = cjson.decode(raw), tonumber(ARGV[4])
if rec.s ~= 'live' or (ARGV[2] ~= '' and rec.d ~= ARGV[2]) then return false end
if end_expired(KEYS[1], ARGV[1], rec, now) then return false end
rec.s = 'ended'; rec.r = ARGV[3]; rec.x = now
local encoded = cjson.encode(rec)
redis.call('HSET', KEYS[1], ARGV[1], encoded)
return encoded
`;

/**
 * What the sweeper should do about a session. ARGV: session id, now. Returns false when it is
 * gone, else its record (turned into an expiry tombstone first when its time has passed).
 */
export const RECONCILE_LUA = `${END_EXPIRED}
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return false end
local rec = cjson.decode(raw)
if end_expired(KEYS[1], ARGV[1], rec, tonumber(ARGV[2])) then return cjson.encode(rec) end
return raw
`;

/**
 * After the events are out: drop a tombstone, or clear a live session's "started" flag.
 * ARGV: session id, '1' when the snapshot's SessionEnded was emitted.
 */
export const SETTLE_LUA = `
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local rec = cjson.decode(raw)
if rec.s == 'ended' and ARGV[2] == '1' then redis.call('HDEL', KEYS[1], ARGV[1]); return 1 end
if rec.p then rec.p = nil; redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(rec)) end
return 1
`;

/**
 * Claims up to ARGV[3] entries due by ARGV[1] by pushing their time to ARGV[2] (a lease ahead),
 * so that concurrent sweepers on other replicas do not take the same ones.
 */
export const CLAIM_LUA = `
local due = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[3]))
for _, member in ipairs(due) do redis.call('ZADD', KEYS[1], ARGV[2], member) end
return due
`;
