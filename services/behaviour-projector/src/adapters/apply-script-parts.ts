// Lua shared by every chunk codec's apply scripts (see chunk-codec.ts for the arguments).
import { APPLIED_MARK } from './journey-fields.js';

/**
 * How many pruning steps a dedupe window is cut into: a journey's markers are scanned for pruning
 * when its dedupe horizon moves into a new step, so at most this many times per window of the
 * user's event time, and a marker outlives the window by less than one step.
 */
export const PRUNE_STEPS_PER_WINDOW = 8;

/**
 * `later(at, id, c)`: whether an event at sort key `at` with event_id `id` is later than the
 * composite field `c` (`<sort key><event_id> <value>`, or nil). "Later" is the greater
 * (occurred_at, event_id), so the fold does not depend on the order events arrive in.
 */
export const LATER_LUA = `
local function later(at, id, c)
  if not c then return true end
  local t = tonumber(string.sub(c, 1, 16))
  if at ~= t then return at > t end
  return id > string.sub(c, 17, string.find(c, ' ', 17, true) - 1)
end
`;

/**
 * Picks the generations a batch writes, into `targets`: ARGV[2] (a rebuild's) or, when it is '',
 * the live ones read here atomically with the writes (the shadow first, then the active one;
 * ARGV[3] names the first generation if there is none yet). ARGV[1] is the generations hash,
 * ARGV[4] this code's journey layout, ARGV[5..6] a generation's layout field split around its name.
 * A target of another layout fails the script with `LAYOUT_MISMATCH <generation> <layout>` before
 * anything is written.
 */
export const TARGETS_LUA = `
local generations, layout = ARGV[1], ARGV[4]
local function layout_field(gen) return ARGV[5] .. gen .. ARGV[6] end
local targets
if ARGV[2] ~= '' then
  targets = { ARGV[2] }
else
  local g = redis.call('HMGET', generations, 'active', 'shadow')
  local active, shadow = g[1], g[2]
  if not active then
    active = ARGV[3]
    redis.call('HSET', generations, 'active', active, layout_field(active), layout)
  end
  if shadow and shadow ~= active then targets = { shadow, active } else targets = { active } end
end
for _, gen in ipairs(targets) do
  local found = redis.call('HGET', generations, layout_field(gen)) or '1'
  if found ~= layout then return redis.error_reply('LAYOUT_MISMATCH ' .. gen .. ' ' .. found) end
end
`;

/**
 * `add_funnels(head, funnels, order)`: one SADD per funnel set a chunk names (`order` lists
 * their keys within a generation, `funnels` their members), in batches of 1000 members.
 */
export const ADD_FUNNELS_LUA = `
local function add_funnels(head, funnels, order)
  for _, f in ipairs(order) do
    local members, key = funnels[f], head .. f
    for i = 1, #members, 1000 do redis.call('SADD', key, unpack(members, i, math.min(i + 999, #members))) end
  end
end
`;

/**
 * The bounded dedupe markers. `set_dedupe_window(w)` takes the window in ms (a script's ARGV).
 * `mark_applied(SET, jk, mark, sk, le)`, called for an event about to be folded (no marker found),
 * with `le` the journey's last-event field before it, writes its marker (value: its sort key) into
 * `SET[1..2]` unless it falls below the journey's dedupe horizon, prunes the journey's markers that
 * the horizon has just passed, and returns how many entries of SET it filled (0 or 2).
 *
 * The horizon of a journey whose newest event is at sort key `newest` is `newest - window`, rounded
 * down to a multiple of the pruning step (window / PRUNE_STEPS_PER_WINDOW), so the journey's markers
 * are exactly those of its applied events at or after the horizon of its newest one: a function of
 * which events were applied, not of their order, as the rest of the fold. Markers written before
 * they held a sort key ('1') are never pruned.
 */
export const DEDUPE_LUA = `
local dedupe_window, prune_step
local function set_dedupe_window(w)
  dedupe_window = tonumber(w)
  prune_step = math.max(1, math.floor(dedupe_window / ${PRUNE_STEPS_PER_WINDOW}))
end
local function horizon(newest) return math.floor((newest - dedupe_window) / prune_step) * prune_step end
local function prune_markers(jk, before)
  local all, old = redis.call('HGETALL', jk), {}
  for i = 1, #all, 2 do
    local v = all[i + 1]
    if string.sub(all[i], 1, ${APPLIED_MARK.length}) == '${APPLIED_MARK}' and #v == 16 and tonumber(v) < before then
      old[#old + 1] = all[i]
    end
  end
  for i = 1, #old, 1000 do redis.call('HDEL', jk, unpack(old, i, math.min(i + 999, #old))) end
end
local function mark_applied(SET, jk, mark, sk, le)
  local at = tonumber(sk)
  local h = horizon(at)
  if le then
    local newest = tonumber(string.sub(le, 1, 16))
    local previous = horizon(newest)
    if previous > h then h = previous elseif previous < h then prune_markers(jk, h) end
  end
  if at < h then return 0 end
  SET[1] = mark; SET[2] = sk
  return 2
end
`;
