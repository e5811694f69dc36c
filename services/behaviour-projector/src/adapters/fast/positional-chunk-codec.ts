// The fast path of the chunk codec (see chunk-codec.ts for the interface and namedFieldsCodec, its
// reference): positional records. A chunk is two flat MessagePack arrays, the records R back to back and a
// dictionary D of the strings many events share (event types, flags, counter fields, appids,
// funnel keys), which a record names by index (0 for none or ''). An event is the record from
// index a: event_id, its sort key, appid#, unionid, openid, type#, flag#, funnel key#, k, then k
// pairs of counter field# and delta. Measured against the reference (events/s on the projector's
// bench, test/bench/projector.ts): see the README's performance table. read-models.spec.ts checks
// on generated chunks that both leave the same Redis state.
import { encode } from '@msgpack/msgpack';
import type { Projection } from '../../domain/projection.js';
import { ADD_FUNNELS_LUA, DEDUPE_LUA, LATER_LUA, TARGETS_LUA } from '../apply-script-parts.js';
import type { ChunkCodec, FunnelMembership } from '../chunk-codec.js';
import { APPLIED_MARK, COUNTER_FIELDS, FLAG_FIELDS, sortKey } from '../journey-fields.js';

const FOLD_POSITIONAL = `${LATER_LUA}${DEDUPE_LUA}
local GET = { 'first', 'le', 'a', 'u', '' }
local SET = {}
local function apply_one(R, D, jk, a)
  local id, sk, appid, unionid = R[a], R[a + 1], D[R[a + 2]], R[a + 3]
  local k = R[a + 8]
  local after = a + 9 + 2 * k
  local mark = '${APPLIED_MARK}' .. id
  GET[5] = mark
  for j = 1, k do GET[5 + j] = D[R[a + 7 + 2 * j]] end
  local cur = redis.call('HMGET', jk, unpack(GET, 1, 5 + k))
  if cur[5] then return 0, after end
  local at = tonumber(sk)
  local n = mark_applied(SET, jk, mark, sk, cur[2])
  if not cur[1] then
    SET[n + 1] = 'openid'; SET[n + 2] = R[a + 4]; SET[n + 3] = 'first'; SET[n + 4] = sk; n = n + 4
  elseif at < tonumber(cur[1]) then
    SET[n + 1] = 'first'; SET[n + 2] = sk; n = n + 2
  end
  if later(at, id, cur[2]) then SET[n + 1] = 'le'; SET[n + 2] = sk .. id .. ' ' .. D[R[a + 5]]; n = n + 2 end
  if appid ~= '' and later(at, id, cur[3]) then SET[n + 1] = 'a'; SET[n + 2] = sk .. id .. ' ' .. appid; n = n + 2 end
  if unionid ~= '' and later(at, id, cur[4]) then SET[n + 1] = 'u'; SET[n + 2] = sk .. id .. ' ' .. unionid; n = n + 2 end
  if R[a + 6] ~= 0 then SET[n + 1] = D[R[a + 6]]; SET[n + 2] = '1'; n = n + 2 end
  for j = 1, k do
    SET[n + 1] = GET[5 + j]; SET[n + 2] = (tonumber(cur[5 + j]) or 0) + R[a + 8 + 2 * j]; n = n + 2
  end
  if n > 0 then redis.call('HSET', jk, unpack(SET, 1, n)) end
  return 1, after
end
local function unpack_dictionary(packed)
  local D = cmsgpack.unpack(packed)
  D[0] = ''
  return D
end
`;

const BATCH_POSITIONAL = `${FOLD_POSITIONAL}${ADD_FUNNELS_LUA}${TARGETS_LUA}
set_dedupe_window(ARGV[11])
local R = cmsgpack.unpack(ARGV[12])
local D = unpack_dictionary(ARGV[13])
local count, applied = #R, 0
local funnels, order = {}, {}
for t, gen in ipairs(targets) do
  local head = ARGV[7] .. gen .. ARGV[8]
  local jhead, jtail = head .. ARGV[9], ARGV[10]
  local a, n = 1, 0
  while a <= count do
    local openid = R[a + 4]
    if t == 1 and R[a + 7] ~= 0 then
      local f = D[R[a + 7]]
      local members = funnels[f]
      if not members then members = {}; funnels[f] = members; order[#order + 1] = f end
      members[#members + 1] = openid
    end
    local r, after = apply_one(R, D, jhead .. openid .. jtail, a)
    n = n + r
    a = after
  end
  add_funnels(head, funnels, order)
  applied = n
end
return applied
`;

const EVENT_POSITIONAL = `${FOLD_POSITIONAL}
set_dedupe_window(ARGV[1])
return (apply_one(cmsgpack.unpack(ARGV[2]), unpack_dictionary(ARGV[3]), KEYS[1], 1))
`;

const asBuffer = (packed: Uint8Array) => Buffer.from(packed.buffer, packed.byteOffset, packed.byteLength);

/** Numbers the strings of one chunk into its dictionary (0 stands for none and ''). */
function dictionaryOf(dictionary: string[]) {
  const index = new Map<string, number>();
  return (value: string | undefined): number => {
    if (value === undefined || value === '') return 0;
    let i = index.get(value);
    if (i === undefined) {
      i = index.size + 1;
      index.set(value, i);
      dictionary.push(value);
    }
    return i;
  };
}

/** Appends one projection's record (see the file's head) to `records`. */
function pushRecord(
  records: Array<string | number>,
  p: Projection,
  ref: (value: string | undefined) => number,
  funnel: number,
): void {
  const flag = ref(p.flag && FLAG_FIELDS[p.flag]);
  records.push(p.eventId, sortKey(p.at), ref(p.appid), p.unionid, p.openid, ref(p.eventType), flag, funnel);
  records.push(p.increments.length);
  for (const [counter, delta] of p.increments) records.push(ref(COUNTER_FIELDS[counter]), delta);
}

/** The records and the dictionary of a chunk; funnels are left out without `funnelKey`. */
function packPositional(
  projections: readonly Projection[],
  funnelKey?: (funnel: FunnelMembership) => string,
): Buffer[] {
  const records: Array<string | number> = [];
  const dictionary: string[] = [];
  const ref = dictionaryOf(dictionary);
  for (const p of projections) {
    const funnel = p.funnel && funnelKey ? ref(funnelKey(p.funnel)) : 0;
    pushRecord(records, p, ref, funnel);
  }
  return [asBuffer(encode(records)), asBuffer(encode(dictionary))];
}

/** Positional records and a dictionary, encoded by @msgpack/msgpack, read by index in the scripts. */
export const positionalChunkCodec: ChunkCodec = {
  name: 'Positional',
  batchScript: BATCH_POSITIONAL,
  eventScript: EVENT_POSITIONAL,
  packChunk: packPositional,
  packEvent: (projection) => packPositional([projection]),
};
