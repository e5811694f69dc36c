// How a chunk of projections travels to the apply scripts, and the scripts that fold it: the
// journey's storage codec on the write side (journey-fields.ts is the read side).
import { encode } from '@msgpack/msgpack';
import type { Projection } from '../domain/projection.js';
import { ADD_FUNNELS_LUA, DEDUPE_LUA, LATER_LUA, TARGETS_LUA } from './apply-script-parts.js';
import { APPLIED_MARK, COUNTER_FIELDS, FLAG_FIELDS, sortKey } from './journey-fields.js';

/** An event's funnel membership. */
export type FunnelMembership = NonNullable<Projection['funnel']>;

/**
 * A chunk codec: the apply scripts and the arguments they read.
 *
 * The batch script applies a chunk to the generations it picks when it runs (see TARGETS_LUA:
 * ARGV[1..6]); ARGV[7..8] are a generation's key prefix split around the generation's name,
 * ARGV[9..10] a journey's key within a generation split around the openid, ARGV[11] the dedupe
 * window in ms and ARGV[12..] the packed chunk, in which funnel keys are given within a generation. The keys are joined in the
 * script instead of sent, so they are not declared in KEYS, which is why this mode needs a single
 * Redis node. Each event is deduplicated and folded in one atomic step (the whole chunk is); the
 * chunk's funnel memberships are added at its end, one SADD per funnel set. It returns how many
 * events were applied (not duplicates) to the last target, the active generation.
 *
 * The event script applies one event (Redis Cluster-safe: KEYS[1] is the user's journey, ARGV[1]
 * the dedupe window in ms, ARGV[2..] the packed event; the funnel SADD is a separate command). It returns 1 when applied, 0 for a
 * duplicate.
 *
 * Dedupe: the journey hash holds a marker field `e:<event_id>` (value: the event's sort key) per
 * applied event within the dedupe window of the journey's newest event, read by the same HMGET
 * that reads the journey and written by the same HSET that folds the event; markers the window has
 * passed are pruned when the journey's horizon moves (DEDUPE_LUA). Redis CPU is
 * what limits the projector, and it grows with every field a script reads or writes (~0.6 µs
 * each): hence composite fields, counters added in the script rather than by one HINCRBY each
 * (exact while a counter stays below 2^53), and openid/first written only when they change.
 */
export interface ChunkCodec {
  /** Names the codec's scripts among the client's commands. */
  readonly name: string;
  readonly batchScript: string;
  readonly eventScript: string;
  /** The batch script's ARGV[12..] for a chunk; `funnelKey` names a funnel set within a generation. */
  packChunk(projections: readonly Projection[], funnelKey: (funnel: FunnelMembership) => string): Buffer[];
  /** The event script's ARGV[2..] for one event (its funnel is left out). */
  packEvent(projection: Projection): Buffer[];
}

// An event as a map of named fields: `id`, `sortKey`, `openid`, `type`, `appid`, `unionid`
// ('' for none), `flag` and `funnel` (a field name and a key within a generation, absent for none)
// and `counters` (a counter's field → what to add).
const FOLD_NAMED = `${LATER_LUA}${DEDUPE_LUA}
local GET = { 'first', 'le', 'a', 'u', '' }
local SET = {}
local function apply_event(e, jk)
  local mark = '${APPLIED_MARK}' .. e.id
  GET[5] = mark
  local k, deltas = 0, {}
  for field, delta in pairs(e.counters) do k = k + 1; GET[5 + k] = field; deltas[k] = delta end
  local cur = redis.call('HMGET', jk, unpack(GET, 1, 5 + k))
  if cur[5] then return 0 end
  local sk, id = e.sortKey, e.id
  local at = tonumber(sk)
  local n = mark_applied(SET, jk, mark, sk, cur[2])
  if not cur[1] then
    SET[n + 1] = 'openid'; SET[n + 2] = e.openid; SET[n + 3] = 'first'; SET[n + 4] = sk; n = n + 4
  elseif at < tonumber(cur[1]) then
    SET[n + 1] = 'first'; SET[n + 2] = sk; n = n + 2
  end
  if later(at, id, cur[2]) then SET[n + 1] = 'le'; SET[n + 2] = sk .. id .. ' ' .. e.type; n = n + 2 end
  if e.appid ~= '' and later(at, id, cur[3]) then SET[n + 1] = 'a'; SET[n + 2] = sk .. id .. ' ' .. e.appid; n = n + 2 end
  if e.unionid ~= '' and later(at, id, cur[4]) then SET[n + 1] = 'u'; SET[n + 2] = sk .. id .. ' ' .. e.unionid; n = n + 2 end
  if e.flag then SET[n + 1] = e.flag; SET[n + 2] = '1'; n = n + 2 end
  for j = 1, k do
    SET[n + 1] = GET[5 + j]; SET[n + 2] = (tonumber(cur[5 + j]) or 0) + deltas[j]; n = n + 2
  end
  if n > 0 then redis.call('HSET', jk, unpack(SET, 1, n)) end
  return 1
end
`;

const BATCH_NAMED = `${FOLD_NAMED}${ADD_FUNNELS_LUA}${TARGETS_LUA}
set_dedupe_window(ARGV[11])
local events = cmsgpack.unpack(ARGV[12])
local applied = 0
local funnels, order = {}, {}
for _, e in ipairs(events) do
  local f = e.funnel
  if f then
    local members = funnels[f]
    if not members then members = {}; funnels[f] = members; order[#order + 1] = f end
    members[#members + 1] = e.openid
  end
end
for _, gen in ipairs(targets) do
  local head = ARGV[7] .. gen .. ARGV[8]
  local jhead, jtail = head .. ARGV[9], ARGV[10]
  local n = 0
  for _, e in ipairs(events) do n = n + apply_event(e, jhead .. e.openid .. jtail) end
  add_funnels(head, funnels, order)
  applied = n
end
return applied
`;

const EVENT_NAMED = `${FOLD_NAMED}
set_dedupe_window(ARGV[1])
return apply_event(cmsgpack.unpack(ARGV[2]), KEYS[1])
`;

/** One event as the named-field scripts read it. */
function namedEvent(p: Projection, funnelKey?: string) {
  return {
    id: p.eventId,
    sortKey: sortKey(p.at),
    openid: p.openid,
    type: p.eventType,
    appid: p.appid,
    unionid: p.unionid,
    flag: p.flag === undefined ? undefined : FLAG_FIELDS[p.flag],
    funnel: funnelKey,
    counters: Object.fromEntries(p.increments.map(([counter, delta]) => [COUNTER_FIELDS[counter], delta])),
  };
}

const asBuffer = (packed: Uint8Array) => Buffer.from(packed.buffer, packed.byteOffset, packed.byteLength);

/**
 * The reference codec: each event a MessagePack map of named fields, encoded by @msgpack/msgpack
 * and read by name in the scripts.
 */
export const namedFieldsCodec: ChunkCodec = {
  name: 'Named',
  batchScript: BATCH_NAMED,
  eventScript: EVENT_NAMED,
  packChunk(projections, funnelKey) {
    const events = projections.map((p) => namedEvent(p, p.funnel && funnelKey(p.funnel)));
    return [asBuffer(encode(events, { ignoreUndefined: true }))];
  },
  packEvent(projection) {
    return [asBuffer(encode(namedEvent(projection), { ignoreUndefined: true }))];
  },
};
