// Lua shared by every chunk codec's apply scripts (see chunk-codec.ts for the arguments).

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
