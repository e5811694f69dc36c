/*
 * The delivery keyspace's Lua scripts. Every key a script touches is passed in KEYS and lives in
 * the `{q}` hash slot, so each script is one atomic step on one node, Redis Cluster included.
 * Field names are the codec's (delivery-codec.ts): s state, n attempts, c channel, p priority,
 * ua updated, na next attempt, da delivered, ec/em/er last error.
 */

/**
 * CREATE — KEYS: streamH, streamN, streamL, delayed, owed, then (delivery, history) per delivery.
 * ARGV: maxDepth, then per delivery: id, fields (cjson array k,v,...), first step (JSON); last,
 * the retention (ms) of a delivery that is FAILED from the start.
 * A delivery that exists is left alone (idempotency); new QUEUED ones are XADDed to their
 * priority's stream. Nothing is written when the queue would exceed maxDepth: {'FULL', depth}.
 * Returns {'OK', state1, channel1, new1, updated1, ...}: the state and channel code now, '1' for a
 * delivery this call created ('0' for one that already existed), and an existing one's last update.
 */
export const CREATE_LUA = `
local n = (#KEYS - 5) / 2
local depth = redis.call('XLEN', KEYS[1]) + redis.call('XLEN', KEYS[2]) + redis.call('XLEN', KEYS[3])
  + redis.call('ZCARD', KEYS[4])
local existing = {}
local decoded = {}
local queued = 0
for i = 1, n do
  local cur = redis.call('HMGET', KEYS[4 + 2 * i], 's', 'c', 'ua')
  if cur[1] then
    existing[i] = cur
  else
    local fields = cjson.decode(ARGV[3 * i])
    decoded[i] = fields
    for j = 1, #fields, 2 do
      if fields[j] == 's' and fields[j + 1] == 'QUEUED' then queued = queued + 1 end
    end
  end
end
if queued > 0 and depth + queued > tonumber(ARGV[1]) then return {'FULL', depth} end
local out = {'OK'}
local streams = {H = KEYS[1], N = KEYS[2], L = KEYS[3]}
for i = 1, n do
  local dkey = KEYS[4 + 2 * i]
  if existing[i] then
    out[#out + 1] = existing[i][1]
    out[#out + 1] = existing[i][2]
    out[#out + 1] = '0'
    out[#out + 1] = existing[i][3] or '0'
  else
    local fields = decoded[i]
    local id = ARGV[3 * i - 1]
    local state, channel, prio
    for j = 1, #fields, 2 do
      if fields[j] == 's' then state = fields[j + 1] end
      if fields[j] == 'c' then channel = fields[j + 1] end
      if fields[j] == 'p' then prio = fields[j + 1] end
    end
    redis.call('HSET', dkey, unpack(fields))
    redis.call('RPUSH', KEYS[5 + 2 * i], ARGV[3 * i + 1])
    if state == 'QUEUED' then redis.call('XADD', streams[prio], '*', 'id', id) end
    redis.call('SADD', KEYS[5], id .. '|routed')
    if state == 'FAILED' then
      redis.call('SADD', KEYS[5], id .. '|failed')
      redis.call('PEXPIRE', dkey, ARGV[#ARGV])
      redis.call('PEXPIRE', KEYS[5 + 2 * i], ARGV[#ARGV])
    end
    out[#out + 1] = state
    out[#out + 1] = channel
    out[#out + 1] = '1'
    out[#out + 1] = '0'
  end
end
return out
`;

/**
 * START — KEYS: delivery, history, stream. ARGV: entry id, group, now, consumer.
 * Takes a job from the queue for a send attempt: QUEUED / RETRY_SCHEDULED → SENDING with one more
 * attempt. Returns {'SEND', attempts, HGETALL...}. Fenced on the entry's owner: when another
 * consumer has claimed the entry meanwhile (this one held it too long), {'LOST'} and nothing
 * changes. A terminal or missing delivery: the entry is acknowledged and {'DONE'}. Already
 * SENDING (its worker died mid-send, so WeChat may or may not have it): {'AMBIGUOUS', attempts}
 * and the entry stays for the caller's transition.
 */
export const START_LUA = `
local owned = redis.call('XPENDING', KEYS[3], ARGV[2], ARGV[1], ARGV[1], 1, ARGV[4])
if #owned == 0 then return {'LOST'} end
local cur = redis.call('HMGET', KEYS[1], 's', 'n', 'c')
if not cur[1] or cur[1] == 'DELIVERED' or cur[1] == 'FAILED' or cur[1] == 'DEAD_LETTERED' then
  redis.call('XACK', KEYS[3], ARGV[2], ARGV[1])
  redis.call('XDEL', KEYS[3], ARGV[1])
  return {'DONE'}
end
if cur[1] == 'SENDING' then return {'AMBIGUOUS', cur[2]} end
redis.call('XCLAIM', KEYS[3], ARGV[2], ARGV[4], 0, ARGV[1], 'JUSTID')
local attempts = tonumber(cur[2]) + 1
redis.call('HSET', KEYS[1], 's', 'SENDING', 'n', attempts, 'ua', ARGV[3])
redis.call('HDEL', KEYS[1], 'na')
redis.call('RPUSH', KEYS[2], cjson.encode({s = 'SENDING', t = tonumber(ARGV[3]), n = attempts, c = cur[3]}))
local out = {'SEND', tostring(attempts)}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all do out[#out + 1] = all[i] end
return out
`;

/**
 * MOVE — KEYS: delivery, history, ack stream, delayed, dead, owed, enqueue stream.
 * ARGV: expected state, expected attempts ('' = any), ack entry id ('' = none), group, new state,
 * fields (cjson array), step (JSON), delayed score ('' = none), dead reason ('' = none),
 * owed event kind ('' = none), enqueue ('1' / ''), retention ms ('' = keep), delivery id, priority.
 * One state transition with everything it implies, fenced on the expected state and attempt so a
 * worker that lost its job cannot overwrite the new owner's progress: 'STALE' then (the entry is
 * still acknowledged, since the job lives on elsewhere). 'MISSING' when the delivery is gone.
 */
export const MOVE_LUA = `
local cur = redis.call('HMGET', KEYS[1], 's', 'n')
local function ack()
  if ARGV[3] ~= '' then
    redis.call('XACK', KEYS[3], ARGV[4], ARGV[3])
    redis.call('XDEL', KEYS[3], ARGV[3])
  end
end
if not cur[1] then ack() return 'MISSING' end
if cur[1] ~= ARGV[1] or (ARGV[2] ~= '' and cur[2] ~= ARGV[2]) then ack() return 'STALE' end
local fields = cjson.decode(ARGV[6])
redis.call('HSET', KEYS[1], 's', ARGV[5], unpack(fields))
redis.call('RPUSH', KEYS[2], ARGV[7])
ack()
if ARGV[8] ~= '' then redis.call('ZADD', KEYS[4], ARGV[8], ARGV[14] .. '|' .. ARGV[13]) end
if ARGV[9] ~= '' then redis.call('XADD', KEYS[5], '*', 'id', ARGV[13], 'reason', ARGV[9]) end
if ARGV[10] ~= '' then redis.call('SADD', KEYS[6], ARGV[13] .. '|' .. ARGV[10]) end
if ARGV[11] == '1' then redis.call('XADD', KEYS[7], '*', 'id', ARGV[13]) end
if ARGV[12] ~= '' then
  redis.call('PEXPIRE', KEYS[1], ARGV[12])
  redis.call('PEXPIRE', KEYS[2], ARGV[12])
else
  redis.call('PERSIST', KEYS[1])
  redis.call('PERSIST', KEYS[2])
end
return 'OK'
`;

/**
 * PROMOTE — KEYS: delayed, streamH, streamN, streamL. ARGV: now, limit.
 * Moves retries that are due from the delayed set to their priority's stream (members are
 * `<priority code>|<delivery id>`). Safe to run on every replica at once. Returns how many moved.
 */
export const PROMOTE_LUA = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local streams = {H = KEYS[2], N = KEYS[3], L = KEYS[4]}
for _, member in ipairs(due) do
  redis.call('ZREM', KEYS[1], member)
  local prio, id = string.match(member, '^(%a)|(.+)$')
  redis.call('XADD', streams[prio] or KEYS[3], '*', 'id', id)
end
return #due
`;

/**
 * REPLAY — KEYS: delivery, history, dead stream, enqueue stream, owed (unused, same slot).
 * ARGV: dead entry id, now, delivery id, step (JSON).
 * Puts a dead-lettered delivery back in the queue with a fresh attempts budget and removes the
 * dead letter. Returns 'OK', or 'SKIPPED' when the delivery is no longer DEAD_LETTERED (the
 * dead letter is removed either way).
 */
export const REPLAY_LUA = `
redis.call('XDEL', KEYS[3], ARGV[1])
local state = redis.call('HGET', KEYS[1], 's')
if state ~= 'DEAD_LETTERED' then return 'SKIPPED' end
redis.call('HSET', KEYS[1], 's', 'QUEUED', 'n', 0, 'ua', ARGV[2])
redis.call('PERSIST', KEYS[1])
redis.call('PERSIST', KEYS[2])
redis.call('RPUSH', KEYS[2], ARGV[4])
redis.call('XADD', KEYS[4], '*', 'id', ARGV[3])
return 'OK'
`;
