import type { Redis } from 'ioredis';
import { Encoder } from '@msgpack/msgpack';
import { FUNNEL_STEPS, type FunnelStep, type Projection } from '../domain/projection.js';
import { createKeys } from './keys.js';

// The fold of one event into one user's journey, shared by both apply scripts. An event is a
// record of the string array R from index a: event_id, occurred_at ms, appid, unionid, openid,
// event type, flag ('' or a field set to 1), the funnel step set's key ('' for none), n, then n
// counter/delta pairs. jk is the journey hash, ak the applied set, fk the funnel step set or nil.
// The event_id goes into the applied set and the journey changes in the same script, so an event
// is folded into a generation at most once; the funnel SADD is idempotent and runs every time.
// "Later" is the greater (occurred_at, event_id), so the result does not depend on the order
// events arrive in.
const FOLD = `
local function later(at, id, t, i)
  if not t then return true end
  t = tonumber(t)
  return at > t or (at == t and id > i)
end
local function apply_one(R, jk, ak, fk, a)
  local id, ats, appid, unionid, openid = R[a], R[a + 1], R[a + 2], R[a + 3], R[a + 4]
  local after = a + 9 + 2 * tonumber(R[a + 8])
  if fk then redis.call('SADD', fk, openid) end
  if redis.call('SADD', ak, id) == 0 then return 0, after end
  local at = tonumber(ats)
  local cur = redis.call('HMGET', jk, 'first', 'last', 'le_id', 'a_at', 'a_id', 'u_at', 'u_id')
  local set, n = { 'openid', openid }, 2
  if not cur[1] or at < tonumber(cur[1]) then set[n + 1] = 'first'; set[n + 2] = ats; n = n + 2 end
  if later(at, id, cur[2], cur[3]) then
    set[n + 1] = 'last'; set[n + 2] = ats; set[n + 3] = 'le_id'; set[n + 4] = id
    set[n + 5] = 'le_type'; set[n + 6] = R[a + 5]; n = n + 6
  end
  if appid ~= '' and later(at, id, cur[4], cur[5]) then
    set[n + 1] = 'appid'; set[n + 2] = appid; set[n + 3] = 'a_at'; set[n + 4] = ats
    set[n + 5] = 'a_id'; set[n + 6] = id; n = n + 6
  end
  if unionid ~= '' and later(at, id, cur[6], cur[7]) then
    set[n + 1] = 'unionid'; set[n + 2] = unionid; set[n + 3] = 'u_at'; set[n + 4] = ats
    set[n + 5] = 'u_id'; set[n + 6] = id; n = n + 6
  end
  if R[a + 6] ~= '' then set[n + 1] = R[a + 6]; set[n + 2] = '1' end
  redis.call('HSET', jk, unpack(set))
  for i = a + 9, after - 1, 2 do redis.call('HINCRBY', jk, R[i], R[i + 1]) end
  return 1, after
end
`;

// One event (a Redis Cluster-safe step: KEYS are the user's journey and applied set, one slot; the
// funnel SADD is then a separate command on its own slot). Returns 1 when applied, 0 for a duplicate.
const APPLY_ONE = `${FOLD}
return (apply_one(ARGV, KEYS[1], KEYS[2], nil, 1))
`;

// A chunk of events in one script: ARGV[1] the records back to back as one MessagePack array of
// strings (one argument instead of ~15 per event: Redis parses it in one C call, and the client
// writes one buffer); ARGV[2..5] the journey and applied keys of the generation split around the
// openid, so the per-user keys are joined here instead of sent. The keys are therefore not
// declared in KEYS, which is why this mode needs a single Redis node. Each event is still
// deduplicated and folded in one atomic step (the whole chunk is), with one script invocation per
// chunk instead of per event. The funnel memberships of the chunk are added at its end, one SADD
// per funnel set (a chunk names few), instead of one per event: the script is atomic, so nothing
// can see the difference, and a chunk that fails is retried event by event. Returns how many were
// applied (not duplicates).
const APPLY_BATCH = `${FOLD}
local R = cmsgpack.unpack(ARGV[1])
local jhead, jtail, ahead, atail = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local funnels, order = {}, {}
local a, count, applied = 1, #R, 0
while a <= count do
  local openid, fk = R[a + 4], R[a + 7]
  if fk ~= '' then
    local members = funnels[fk]
    if not members then members = {}; funnels[fk] = members; order[#order + 1] = fk end
    members[#members + 1] = openid
  end
  local r, after = apply_one(R, jhead .. openid .. jtail, ahead .. openid .. atail, nil, a)
  applied = applied + r
  a = after
end
for _, fk in ipairs(order) do
  local members = funnels[fk]
  for i = 1, #members, 1000 do redis.call('SADD', fk, unpack(members, i, math.min(i + 999, #members))) end
end
return applied
`;

// KEYS[1] generations hash; ARGV[1] the new shadow. Returns the shadow it replaced, if any.
const BEGIN_SHADOW = `
local old = redis.call('HGET', KEYS[1], 'shadow')
redis.call('HSET', KEYS[1], 'shadow', ARGV[1])
return old
`;

// KEYS[1] generations hash; ARGV[1] the shadow to promote. Fails unless it is still the shadow
// (another rebuild replaced it); returns the generation it replaced.
const SWAP = `
if redis.call('HGET', KEYS[1], 'shadow') ~= ARGV[1] then
  return redis.error_reply('STALE_SHADOW ' .. ARGV[1] .. ' is no longer the shadow generation')
end
local old = redis.call('HGET', KEYS[1], 'active')
redis.call('HSET', KEYS[1], 'active', ARGV[1])
redis.call('HDEL', KEYS[1], 'shadow')
return old
`;

// KEYS[1] generations hash; ARGV[1] a shadow to abandon: removed only if it is still the shadow.
const ABORT_SHADOW = `
if redis.call('HGET', KEYS[1], 'shadow') == ARGV[1] then redis.call('HDEL', KEYS[1], 'shadow'); return 1 end
return 0
`;

type ProjectorRedis = Redis & {
  projectorApplyOne(journey: string, applied: string, ...argv: string[]): Promise<number>;
  projectorApplyBatch(records: Buffer, ...keyParts: string[]): Promise<number>;
  projectorBeginShadow(generations: string, gen: string): Promise<string | null>;
  projectorSwap(generations: string, gen: string): Promise<string | null>;
  projectorAbortShadow(generations: string, gen: string): Promise<number>;
};

/** Unique users per funnel step for one day. */
export type FunnelCounts = { day: string } & Record<FunnelStep, number>;

/** The projector's read models in Redis; see {@link createReadModelStore}. */
export interface ReadModelStore {
  /**
   * The generations every applied event must be written to, shadow first: the active one and the
   * one a rebuild is filling, if any. Creates the first active generation when there is none.
   * Read it after fetching the events it is used for (a rebuild relies on that, see rebuild.ts).
   */
  writeTargets(): Promise<string[]>;
  /**
   * Applies the projections, in order, to every generation in one pipelined round trip.
   * Resolves once Redis has executed all of it; counts are for the last generation (the active
   * one). Rejects with the first command's error (then some of it may have been applied, which
   * re-applying corrects, every effect being idempotent).
   */
  apply(
    generations: readonly string[],
    projections: readonly Projection[],
  ): Promise<{ applied: number; duplicates: number }>;
  /** The generation served, or undefined before the first event was ever applied. */
  activeGeneration(): Promise<string | undefined>;
  /** The user's journey hash in the active generation (empty object when unknown). */
  journey(openid: string): Promise<Record<string, string>>;
  /** Unique users per step for each of `days` of `appid`, in the active generation. */
  funnel(appid: string, days: readonly string[]): Promise<FunnelCounts[]>;
  /** Makes `gen` the shadow generation; resolves with the shadow it replaced (an abandoned rebuild's). */
  beginShadow(gen: string): Promise<string | undefined>;
  /**
   * Atomically makes the shadow `gen` active; resolves with the previously active generation.
   * Rejects when `gen` is no longer the shadow (a newer rebuild took over).
   */
  swap(gen: string): Promise<string | undefined>;
  /** Stops writing to the shadow `gen` (when it is still the shadow). */
  abortShadow(gen: string): Promise<void>;
  /** Deletes every key of a generation (SCAN + UNLINK); resolves with how many. Never the active one. */
  dropGeneration(gen: string): Promise<number>;
}

/**
 * Options of {@link createReadModelStore}: `prefix` (default `wxm:projector:`) and `newGeneration`,
 * which names the first generation (injected so tests and the clock stay in control).
 */
export interface ReadModelStoreOptions {
  prefix: string;
  newGeneration: () => string;
  /**
   * `batch` (default): one script per chunk and generation, for a single Redis (or a proxy that
   * keeps a script on one node). `event`: one script per event on the user's slot plus a separate
   * funnel SADD, for Redis Cluster; about a third of the throughput (measured: EVALSHA costs ~15 µs
   * of Redis CPU per call whatever it does).
   */
  applyMode?: 'batch' | 'event';
}

/**
 * The read models in Redis. Every user's journey is changed only by the one APPLY script, which
 * records the event_id in the user's applied set in the same atomic step, so an event is applied
 * to a generation at most once, whoever delivers it how often.
 */
export function createReadModelStore(redisClient: Redis, options: ReadModelStoreOptions): ReadModelStore {
  const keys = createKeys(options.prefix);
  const redis = redisClient as ProjectorRedis;
  const batch = (options.applyMode ?? 'batch') === 'batch';
  if (typeof redis.projectorApplyOne !== 'function') {
    redis.defineCommand('projectorApplyOne', { numberOfKeys: 2, lua: APPLY_ONE });
    redis.defineCommand('projectorApplyBatch', { numberOfKeys: 0, lua: APPLY_BATCH });
    redis.defineCommand('projectorBeginShadow', { numberOfKeys: 1, lua: BEGIN_SHADOW });
    redis.defineCommand('projectorSwap', { numberOfKeys: 1, lua: SWAP });
    redis.defineCommand('projectorAbortShadow', { numberOfKeys: 1, lua: ABORT_SHADOW });
  }

  const activeGeneration = async () => (await redis.hget(keys.generations, 'active')) ?? undefined;

  return {
    async writeTargets() {
      let [active, shadow] = await redis.hmget(keys.generations, 'active', 'shadow');
      if (active == null) {
        await redis.hsetnx(keys.generations, 'active', options.newGeneration());
        [active, shadow] = await redis.hmget(keys.generations, 'active', 'shadow');
      }
      const served = active!;
      return shadow != null && shadow !== served ? [shadow, served] : [served];
    },

    async apply(generations, projections) {
      if (projections.length === 0 || generations.length === 0) return { applied: 0, duplicates: 0 };
      const pipeline = redis.pipeline() as ReturnType<Redis['pipeline']> & {
        projectorApplyOne(journey: string, applied: string, ...argv: string[]): unknown;
        projectorApplyBatch(records: Buffer, ...keyParts: string[]): unknown;
      };
      const counted = new Set<number>(); // indexes of the active generation's apply replies
      let index = 0;
      for (const [g, gen] of generations.entries()) {
        const last = g === generations.length - 1;
        if (batch) {
          const records: string[] = [];
          const add = (value: string) => void records.push(value);
          for (const p of projections) {
            const { funnel } = p;
            const funnelKey = funnel ? keys.funnel(gen, funnel.appid, funnel.day, funnel.step) : '';
            writeRecord(add, p, funnelKey);
          }
          pipeline.projectorApplyBatch(
            packRecords(records),
            ...keys.journey(gen, OPENID_MARK).split(OPENID_MARK),
            ...keys.applied(gen, OPENID_MARK).split(OPENID_MARK),
          );
          if (last) counted.add(index);
          index++;
          continue;
        }
        for (const p of projections) {
          const argv: string[] = [];
          writeRecord((value) => argv.push(value), p, '');
          pipeline.projectorApplyOne(keys.journey(gen, p.openid), keys.applied(gen, p.openid), ...argv);
          if (last) counted.add(index);
          index++;
          if (p.funnel !== undefined) {
            pipeline.sadd(keys.funnel(gen, p.funnel.appid, p.funnel.day, p.funnel.step), p.openid);
            index++;
          }
        }
      }
      const results = (await pipeline.exec()) ?? [];
      let applied = 0;
      for (const [i, [err, value]] of results.entries()) {
        if (err) throw err;
        if (counted.has(i)) applied += Number(value);
      }
      return { applied, duplicates: projections.length - applied };
    },

    activeGeneration,

    async journey(openid) {
      const gen = await activeGeneration();
      if (gen === undefined) return {};
      return redis.hgetall(keys.journey(gen, openid));
    },

    async funnel(appid, days) {
      const gen = await activeGeneration();
      if (gen === undefined || days.length === 0) {
        return days.map((day) => ({ day, logged_in: 0, phone_bound: 0, ordered: 0, paid: 0 }));
      }
      const pipeline = redis.pipeline();
      for (const day of days)
        for (const step of FUNNEL_STEPS) pipeline.scard(keys.funnel(gen, appid, day, step));
      const results = (await pipeline.exec()) ?? [];
      return days.map((day, d) => {
        const counts = { day } as FunnelCounts;
        FUNNEL_STEPS.forEach((step, s) => {
          const [err, value] = results[d * FUNNEL_STEPS.length + s]!;
          if (err) throw err;
          counts[step] = Number(value);
        });
        return counts;
      });
    },

    async beginShadow(gen) {
      return (await redis.projectorBeginShadow(keys.generations, gen)) ?? undefined;
    },

    async swap(gen) {
      return (await redis.projectorSwap(keys.generations, gen)) ?? undefined;
    },

    async abortShadow(gen) {
      await redis.projectorAbortShadow(keys.generations, gen);
    },

    async dropGeneration(gen) {
      if (gen === (await activeGeneration())) throw new Error(`generation ${gen} is active; not dropping it`);
      let cursor = '0';
      let dropped = 0;
      do {
        const [next, found] = await redis.scan(cursor, 'MATCH', `${keys.generation(gen)}*`, 'COUNT', 1000);
        cursor = next;
        if (found.length > 0) dropped += await redis.unlink(...found);
      } while (cursor !== '0');
      return dropped;
    },
  };
}

// Stands for the openid when a user key is split into the parts around it (openids never hold it).
const OPENID_MARK = '\u0000';

// A chunk's records as one MessagePack array of str, which the scripts' `cmsgpack.unpack` reads
// back as a Lua table of strings.
const MSGPACK = new Encoder();

function packRecords(records: readonly string[]): Buffer {
  const bytes = MSGPACK.encode(records); // a copy: the pipeline may still hold the previous chunk
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Writes one event's record (the layout FOLD reads), string by string. */
function writeRecord(add: (value: string) => void, p: Projection, funnelKey: string): void {
  add(p.eventId);
  add(String(p.at));
  add(p.appid);
  add(p.unionid);
  add(p.openid);
  add(p.eventType);
  add(p.flag ?? '');
  add(funnelKey);
  add(String(p.incr.length));
  for (const [field, delta] of p.incr) {
    add(field);
    add(String(delta));
  }
}
