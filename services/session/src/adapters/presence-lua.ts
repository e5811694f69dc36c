import { SEEN_FIELD } from './presence-codec.js';

/*
 * The presence keyspace's Lua scripts, each on one user's presence hash. Entries are JSON with
 * the codec's field names (presence-codec.ts); the trailing ARGV are the ids of the replicas
 * alive now, so a channel counts only while its replica heartbeats.
 */

const LIVE_SET = `
local live = {}
for i = ARGV_LIVE_FROM, #ARGV do live[ARGV[i]] = true end
local function count_live(key)
  local all, n = redis.call('HGETALL', key), 0
  for i = 1, #all, 2 do
    if all[i] ~= '${SEEN_FIELD}' and live[cjson.decode(all[i + 1]).r] then n = n + 1 end
  end
  return n
end
`;
const liveSet = (from: number) => LIVE_SET.replace('ARGV_LIVE_FROM', String(from));

/** ARGV: channel id, entry JSON, now, retention, live replica ids... -> live channels before this one. */
export const ATTACH_LUA = `${liveSet(5)}
local before = count_live(KEYS[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2], '${SEEN_FIELD}', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return before
`;

/**
 * ARGV: channel id, now, retention, live replica ids... -> live channels left, or -1 when the
 * channel was already gone (withdrawn or reaped: whoever removed it reported it).
 */
export const DETACH_LUA = `${liveSet(4)}
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return -1 end
local left = count_live(KEYS[1])
if left == 0 then redis.call('HSET', KEYS[1], '${SEEN_FIELD}', ARGV[2]) end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return left
`;

/** ARGV: replica id, its last heartbeat, live replica ids... -> {removed, live channels left}. */
export const REMOVE_REPLICA_LUA = `${liveSet(3)}
local all, removed = redis.call('HGETALL', KEYS[1]), 0
for i = 1, #all, 2 do
  if all[i] ~= '${SEEN_FIELD}' and cjson.decode(all[i + 1]).r == ARGV[1] then
    redis.call('HDEL', KEYS[1], all[i]); removed = removed + 1
  end
end
local left = count_live(KEYS[1])
if removed > 0 and left == 0 then
  local seen = tonumber(redis.call('HGET', KEYS[1], '${SEEN_FIELD}') or '0')
  if tonumber(ARGV[2]) > seen then redis.call('HSET', KEYS[1], '${SEEN_FIELD}', ARGV[2]) end
end
return { removed, left }
`;
