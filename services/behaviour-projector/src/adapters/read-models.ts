import { ReplyError, type Redis } from 'ioredis';
import {
  FUNNEL_STEPS,
  JOURNEY_COUNTERS,
  JOURNEY_FLAGS,
  MAX_OCCURRED_AT_MS,
  MIN_OCCURRED_AT_MS,
  type FunnelStep,
  type JourneyCounter,
  type JourneyFlag,
  type Projection,
} from '../domain/projection.js';
import { createKeys } from './keys.js';
import { RecordPacker } from './record-packer.js';

// The fold of one event into one user's journey, shared by both apply scripts. A chunk comes as
// two MessagePack arrays (see packChunk): the records R back to back, and a dictionary D of the
// strings many events share (event types, flags, counter fields, appids, funnel keys), which a
// record names by index (0 for none or ''). An event is the record from index a: event_id, its
// sort key (see sortKey), appid#, unionid, openid, type#, flag#, funnel key#, k, then k pairs of
// counter field# and delta. jk is the user's journey hash (its fields: see JOURNEY_FIELDS).
//
// Dedupe: the journey hash holds a marker field `e:<event_id>` per applied event. It is read by
// the same HMGET that reads the journey and written by the same HSET that folds the event, so an
// event is folded into a generation at most once, in two Redis calls.
// "Later" is the greater (occurred_at, event_id), so the result does not depend on the order
// events arrive in. The latest event, appid and unionid are each one field `<sort key><event_id>
// <value>`, so what decides "later" is written with the value it guards.
// Redis CPU is what limits the projector, and it grows with every field a script reads or writes
// (~0.6 µs each, measured): hence composite fields, counters added here rather than by one
// HINCRBY each (exact while a counter stays below 2^53, 4 million maximal int32 payments), and
// openid/first written only when they change.
const FOLD = `
local GET = { 'first', 'le', 'a', 'u', '' }
local SET = {}
local function later(at, id, c)
  if not c then return true end
  local t = tonumber(string.sub(c, 1, 16))
  if at ~= t then return at > t end
  return id > string.sub(c, 17, string.find(c, ' ', 17, true) - 1)
end
local function apply_one(R, D, jk, a)
  local id, sk, appid, unionid = R[a], R[a + 1], D[R[a + 2]], R[a + 3]
  local k = R[a + 8]
  local after = a + 9 + 2 * k
  local mark = 'e:' .. id
  GET[5] = mark
  for j = 1, k do GET[5 + j] = D[R[a + 7 + 2 * j]] end
  local cur = redis.call('HMGET', jk, unpack(GET, 1, 5 + k))
  if cur[5] then return 0, after end
  local at = tonumber(sk)
  SET[1] = mark; SET[2] = '1'
  local n = 2
  if not cur[1] then
    SET[3] = 'openid'; SET[4] = R[a + 4]; SET[5] = 'first'; SET[6] = sk; n = 6
  elseif at < tonumber(cur[1]) then
    SET[3] = 'first'; SET[4] = sk; n = 4
  end
  if later(at, id, cur[2]) then SET[n + 1] = 'le'; SET[n + 2] = sk .. id .. ' ' .. D[R[a + 5]]; n = n + 2 end
  if appid ~= '' and later(at, id, cur[3]) then SET[n + 1] = 'a'; SET[n + 2] = sk .. id .. ' ' .. appid; n = n + 2 end
  if unionid ~= '' and later(at, id, cur[4]) then SET[n + 1] = 'u'; SET[n + 2] = sk .. id .. ' ' .. unionid; n = n + 2 end
  if R[a + 6] ~= 0 then SET[n + 1] = D[R[a + 6]]; SET[n + 2] = '1'; n = n + 2 end
  for j = 1, k do
    SET[n + 1] = GET[5 + j]; SET[n + 2] = (tonumber(cur[5 + j]) or 0) + R[a + 8 + 2 * j]; n = n + 2
  end
  redis.call('HSET', jk, unpack(SET, 1, n))
  return 1, after
end
local function unpack_dictionary(packed)
  local D = cmsgpack.unpack(packed)
  D[0] = ''
  return D
end
`;

// One event (a Redis Cluster-safe step: KEYS[1] is the user's journey; the funnel SADD is then a
// separate command on its own slot). ARGV[1] the record, ARGV[2] the dictionary. Returns 1 when
// applied, 0 for a duplicate.
const APPLY_ONE = `${FOLD}
return (apply_one(cmsgpack.unpack(ARGV[1]), unpack_dictionary(ARGV[2]), KEYS[1], 1))
`;

// A chunk of events in one script, written to the generations it picks when it runs. ARGV[1] the
// records and ARGV[2] the dictionary (one argument each instead of ~15 per event: Redis parses
// them in one C call, and the client writes one buffer). ARGV[3] the generations hash; ARGV[4]
// the one generation to write (a rebuild's), or '' for the live ones: the active generation and
// a rebuild's shadow (shadow first), read here, atomically with the writes, so that no chunk can
// go to generations that a swap has just replaced; ARGV[5] names the first generation if there is
// none yet. ARGV[6] the journey layout of this code: a target of another layout fails the script
// with `LAYOUT_MISMATCH <generation> <layout>` before anything is written. ARGV[7..8] a
// generation's layout field, ARGV[9..10] its key prefix, split around the generation's name;
// ARGV[11..12] a journey's key within a generation, split around the openid; the dictionary
// holds funnel keys within a generation. The keys are joined here instead of sent, so they are
// not declared in KEYS, which is why this mode needs a single Redis node.
// Each event is still deduplicated and folded in one atomic step (the whole chunk is), with one
// script invocation per chunk. The funnel memberships of the chunk are added at its end, one SADD
// per funnel set (a chunk names few), instead of one per event: the script is atomic, so nothing
// can see the difference, and a chunk that fails is retried event by event. Returns how many were
// applied (not duplicates) to the last target, the active generation.
const APPLY_BATCH = `${FOLD}
local R = cmsgpack.unpack(ARGV[1])
local D = unpack_dictionary(ARGV[2])
local generations, layout = ARGV[3], ARGV[6]
local function layout_field(gen) return ARGV[7] .. gen .. ARGV[8] end
local targets
if ARGV[4] ~= '' then
  targets = { ARGV[4] }
else
  local g = redis.call('HMGET', generations, 'active', 'shadow')
  local active, shadow = g[1], g[2]
  if not active then
    active = ARGV[5]
    redis.call('HSET', generations, 'active', active, layout_field(active), layout)
  end
  if shadow and shadow ~= active then targets = { shadow, active } else targets = { active } end
end
for _, gen in ipairs(targets) do
  local found = redis.call('HGET', generations, layout_field(gen)) or '1'
  if found ~= layout then return redis.error_reply('LAYOUT_MISMATCH ' .. gen .. ' ' .. found) end
end
local count, applied = #R, 0
local funnels, order = {}, {}
for t, gen in ipairs(targets) do
  local head = ARGV[9] .. gen .. ARGV[10]
  local jhead, jtail = head .. ARGV[11], ARGV[12]
  local a, n = 1, 0
  while a <= count do
    local openid = R[a + 4]
    if t == 1 then
      local f = R[a + 7]
      if f ~= 0 then
        local members = funnels[f]
        if not members then members = {}; funnels[f] = members; order[#order + 1] = f end
        members[#members + 1] = openid
      end
    end
    local r, after = apply_one(R, D, jhead .. openid .. jtail, a)
    n = n + r
    a = after
  end
  for _, f in ipairs(order) do
    local members, key = funnels[f], head .. D[f]
    for i = 1, #members, 1000 do redis.call('SADD', key, unpack(members, i, math.min(i + 999, #members))) end
  end
  applied = n
end
return applied
`;

// KEYS[1] generations hash; ARGV[1] the new shadow, ARGV[2] its layout field, ARGV[3] the layout.
// Returns the shadow it replaced, if any.
const BEGIN_SHADOW = `
local old = redis.call('HGET', KEYS[1], 'shadow')
redis.call('HSET', KEYS[1], 'shadow', ARGV[1], ARGV[2], ARGV[3])
return old
`;

// KEYS[1] generations hash; ARGV[1] a first generation, ARGV[2] its layout field, ARGV[3] the
// layout: made active (with its layout recorded) unless a generation already is.
const CREATE_ACTIVE = `
if redis.call('HSETNX', KEYS[1], 'active', ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
end
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
  projectorApplyOne(journey: string, record: Buffer, dictionary: Buffer): Promise<number>;
  projectorApplyBatch(records: Buffer, dictionary: Buffer, ...args: string[]): Promise<number>;
  projectorBeginShadow(
    generations: string,
    gen: string,
    layoutField: string,
    layout: string,
  ): Promise<string | null>;
  projectorCreateActive(generations: string, gen: string, layoutField: string, layout: string): Promise<null>;
  projectorSwap(generations: string, gen: string): Promise<string | null>;
  projectorAbortShadow(generations: string, gen: string): Promise<number>;
};

/**
 * The journey hash layout this code reads and writes (see FOLD). Each generation records the
 * layout it was built with (see keys.ts; no record means 1, the
 * layout before composite fields). A projector never writes into, nor reads from, a generation
 * of another layout: a rebuild replays the topic into a new generation of this layout.
 */
export const JOURNEY_LAYOUT = '2';

/** A generation was built with another journey layout than this code's; a rebuild replaces it. */
export class LayoutMismatchError extends Error {
  override readonly name = 'LayoutMismatchError';
  constructor(
    readonly generation: string,
    readonly layout: string,
  ) {
    super(
      `read-model generation ${generation} has journey layout ${layout}, this projector uses layout ` +
        `${JOURNEY_LAYOUT}: run the rebuild (npm run -w services/behaviour-projector rebuild) to replay ` +
        `the topic into a generation of layout ${JOURNEY_LAYOUT} and swap it in`,
    );
  }
}

/** A user's journey as stored; an unknown user has no `firstSeenAt`, zero counters and no flags. */
export interface StoredJourney {
  /** Epoch ms of the earliest event. */
  firstSeenAt?: number;
  /** The latest event, by (occurred_at, event_id). */
  lastEvent?: { at: number; eventId: string; eventType: string };
  /** The appid of the latest event that had one ('' if none). */
  appid: string;
  /** The unionid of the latest event that had one ('' if none). */
  unionid: string;
  flags: ReadonlySet<JourneyFlag>;
  counters: Readonly<Record<JourneyCounter, bigint>>;
}

/** Unique users per funnel step for one day. */
export type FunnelCounts = { day: string } & Record<FunnelStep, number>;

/** The projector's read models in Redis; see {@link createReadModelStore}. */
export interface ReadModelStore {
  /**
   * Applies the projections, in order, to `generation`, or by default to the live generations:
   * the active one and the shadow a rebuild is filling, if any (shadow first; the first active
   * generation is created when there is none). The live generations are read when the apply
   * runs, so after the events were fetched (a rebuild relies on that, see rebuild.ts); in the
   * batch mode the apply script reads them itself, atomically with its writes.
   * Resolves once Redis has executed all of it; counts are for the active (or the named)
   * generation. Rejects with a {@link LayoutMismatchError}, having written nothing, while a
   * target has another journey layout (the consumer retries: it waits for a rebuild to swap in a
   * generation of this layout); otherwise with the first command's error (then some of it may
   * have been applied, which re-applying corrects, every effect being idempotent).
   */
  apply(
    projections: readonly Projection[],
    generation?: string,
  ): Promise<{ applied: number; duplicates: number }>;
  /** The generation served, or undefined before the first event was ever applied. */
  activeGeneration(): Promise<string | undefined>;
  /**
   * The user's journey in the active generation (an empty one when unknown). Rejects with a
   * {@link LayoutMismatchError} when that generation has another journey layout.
   */
  journey(openid: string): Promise<StoredJourney>;
  /** The event_ids applied to the user's journey in `generation` (for checks and audits; scans the hash). */
  appliedEventIds(generation: string, openid: string): Promise<string[]>;
  /** Unique users per step for each of `days` of `appid`, in the active generation. */
  funnel(appid: string, days: readonly string[]): Promise<FunnelCounts[]>;
  /**
   * Makes `gen` the shadow generation, of this code's journey layout; resolves with the shadow it
   * replaced (an abandoned rebuild's).
   */
  beginShadow(gen: string): Promise<string | undefined>;
  /**
   * Atomically makes the shadow `gen` active; resolves with the previously active generation.
   * Rejects when `gen` is no longer the shadow (a newer rebuild took over).
   */
  swap(gen: string): Promise<string | undefined>;
  /** Stops writing to the shadow `gen` (when it is still the shadow). */
  abortShadow(gen: string): Promise<void>;
  /**
   * Deletes every key of a generation (SCAN + UNLINK) and its layout record; resolves with how
   * many keys. Never the active one.
   */
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
 * The read models in Redis. Every user's journey is changed only by the apply scripts, which
 * record the event_id as a marker field of the journey in the same atomic step, so an event is
 * applied to a generation at most once, whoever delivers it how often.
 */
export function createReadModelStore(redisClient: Redis, options: ReadModelStoreOptions): ReadModelStore {
  const keys = createKeys(options.prefix);
  const redis = redisClient as ProjectorRedis;
  const batch = (options.applyMode ?? 'batch') === 'batch';
  if (typeof redis.projectorApplyOne !== 'function') {
    redis.defineCommand('projectorApplyOne', { numberOfKeys: 1, lua: APPLY_ONE });
    redis.defineCommand('projectorApplyBatch', { numberOfKeys: 0, lua: APPLY_BATCH });
    redis.defineCommand('projectorBeginShadow', { numberOfKeys: 1, lua: BEGIN_SHADOW });
    redis.defineCommand('projectorCreateActive', { numberOfKeys: 1, lua: CREATE_ACTIVE });
    redis.defineCommand('projectorSwap', { numberOfKeys: 1, lua: SWAP });
    redis.defineCommand('projectorAbortShadow', { numberOfKeys: 1, lua: ABORT_SHADOW });
  }

  const activeGeneration = async () => (await redis.hget(keys.generations, 'active')) ?? undefined;

  // A generation's layout never changes, so what was read once is kept (the map only grows by one
  // entry per generation this process meets).
  const layouts = new Map<string, string>();
  /** Throws a LayoutMismatchError unless every one of `gens` was built with JOURNEY_LAYOUT. */
  const assertLayout = async (gens: readonly string[]) => {
    const unknown = gens.filter((g) => !layouts.has(g));
    if (unknown.length > 0) {
      const found = await redis.hmget(keys.generations, ...unknown.map(keys.layoutField));
      unknown.forEach((g, i) => layouts.set(g, found[i] ?? '1'));
    }
    for (const g of gens) {
      if (layouts.get(g) !== JOURNEY_LAYOUT) throw new LayoutMismatchError(g, layouts.get(g)!);
    }
  };

  /** The live generations (see apply) as the per-event mode writes them, read before its pipeline. */
  const liveTargets = async () => {
    let [active, shadow] = await redis.hmget(keys.generations, 'active', 'shadow');
    if (active == null) {
      const gen = options.newGeneration();
      await redis.projectorCreateActive(keys.generations, gen, keys.layoutField(gen), JOURNEY_LAYOUT);
      [active, shadow] = await redis.hmget(keys.generations, 'active', 'shadow');
    }
    const served = active!;
    const targets = shadow != null && shadow !== served ? [shadow, served] : [served];
    await assertLayout(targets);
    return targets;
  };

  // The key parts the batch script joins generations and openids into (see APPLY_BATCH).
  const batchKeyParts = [
    ...keys.layoutField(MARK).split(MARK),
    ...keys.generation(MARK).split(MARK),
    ...keys.journeyIn(MARK).split(MARK),
  ];

  const applyBatch = async (projections: readonly Projection[], generation = '') => {
    const [records, dictionary] = packChunk(projections, (f) => keys.funnelIn(f.appid, f.day, f.step));
    try {
      const applied = await redis.projectorApplyBatch(
        records,
        dictionary,
        keys.generations,
        generation,
        generation === '' ? options.newGeneration() : '',
        JOURNEY_LAYOUT,
        ...batchKeyParts,
      );
      return { applied, duplicates: projections.length - applied };
    } catch (err) {
      const mismatch = err instanceof ReplyError && LAYOUT_MISMATCH_REPLY.exec((err as Error).message);
      if (mismatch) throw new LayoutMismatchError(mismatch[1]!, mismatch[2]!);
      throw err;
    }
  };

  const applyPerEvent = async (projections: readonly Projection[], generation?: string) => {
    const generations = generation === undefined ? await liveTargets() : [generation];
    if (generation !== undefined) await assertLayout(generations);
    const pipeline = redis.pipeline() as ReturnType<Redis['pipeline']> & {
      projectorApplyOne(journey: string, record: Buffer, dictionary: Buffer): unknown;
    };
    const counted = new Set<number>(); // indexes of the active generation's apply replies
    let index = 0;
    for (const [g, gen] of generations.entries()) {
      for (const p of projections) {
        const [record, dictionary] = packChunk([p], () => undefined);
        pipeline.projectorApplyOne(keys.journey(gen, p.openid), record, dictionary);
        if (g === generations.length - 1) counted.add(index);
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
  };

  return {
    async apply(projections, generation) {
      if (projections.length === 0) return { applied: 0, duplicates: 0 };
      return batch ? applyBatch(projections, generation) : applyPerEvent(projections, generation);
    },

    activeGeneration,

    async journey(openid) {
      const gen = await activeGeneration();
      if (gen === undefined) return parseJourney([]);
      await assertLayout([gen]);
      return parseJourney(await redis.hmget(keys.journey(gen, openid), ...JOURNEY_FIELDS));
    },

    async appliedEventIds(generation, openid) {
      const fields = await redis.hkeys(keys.journey(generation, openid));
      return fields.filter((f) => f.startsWith(APPLIED_MARK)).map((f) => f.slice(APPLIED_MARK.length));
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
      const shadowed = await redis.projectorBeginShadow(
        keys.generations,
        gen,
        keys.layoutField(gen),
        JOURNEY_LAYOUT,
      );
      return shadowed ?? undefined;
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
      await redis.hdel(keys.generations, keys.layoutField(gen));
      layouts.delete(gen);
      return dropped;
    },
  };
}

// Stands for a generation or an openid when a key is split into the parts around it (neither ever
// holds it).
const MARK = '\u0000';
const LAYOUT_MISMATCH_REPLY = /^LAYOUT_MISMATCH (\S+) (\S+)$/;

// The journey hash's fields (besides `openid` and one `e:<event_id>` marker per applied event, see
// FOLD): `first` (a sort key), `le`, `a`, `u` (`<sort key><event_id> <event type | appid |
// unionid>`), the flags and the counters.
const JOURNEY_FIELDS = ['first', 'le', 'a', 'u', ...JOURNEY_FLAGS, ...JOURNEY_COUNTERS] as const;
const APPLIED_MARK = 'e:';

// A sort key is occurred_at (ms) shifted to be non-negative over the whole Timestamp range and
// written in 16 digits, so that the script can cut it off a composite field by position.
const SORT_KEY_OFFSET = 1e15;
const SORT_KEY_DIGITS = 16;

function sortKey(at: number): string {
  if (!(at >= MIN_OCCURRED_AT_MS && at <= MAX_OCCURRED_AT_MS))
    throw new RangeError(`sortKey: ${at} is outside the Timestamp range`);
  const key = String(at + SORT_KEY_OFFSET);
  return key.length === SORT_KEY_DIGITS ? key : key.padStart(SORT_KEY_DIGITS, '0');
}

const sortKeyMs = (value: string) => Number(value.slice(0, SORT_KEY_DIGITS)) - SORT_KEY_OFFSET;

/** `<sort key><event_id> <value>` into its parts. */
function parseLatest(field: string): { at: number; eventId: string; value: string } {
  const space = field.indexOf(' ', SORT_KEY_DIGITS);
  return {
    at: sortKeyMs(field),
    eventId: field.slice(SORT_KEY_DIGITS, space),
    value: field.slice(space + 1),
  };
}

/** A journey from the values of JOURNEY_FIELDS, in order (none for an unknown user). */
function parseJourney(values: ReadonlyArray<string | null>): StoredJourney {
  const [first, le, a, u] = values;
  const last = le == null ? undefined : parseLatest(le);
  const flags = new Set<JourneyFlag>();
  JOURNEY_FLAGS.forEach((flag, i) => {
    if (values[4 + i] === '1') flags.add(flag);
  });
  const counters = {} as Record<JourneyCounter, bigint>;
  JOURNEY_COUNTERS.forEach((counter, i) => {
    counters[counter] = BigInt(values[4 + JOURNEY_FLAGS.length + i] ?? 0);
  });
  return {
    firstSeenAt: first == null ? undefined : sortKeyMs(first),
    lastEvent: last && { at: last.at, eventId: last.eventId, eventType: last.value },
    appid: a == null ? '' : parseLatest(a).value,
    unionid: u == null ? '' : parseLatest(u).value,
    flags,
    counters,
  };
}

const RECORDS = new RecordPacker();
const DICTIONARY = new RecordPacker();

/**
 * Packs projections as the records and dictionary FOLD reads. `funnelKey` names an event's funnel
 * set, or undefined to leave funnels out of the records (the per-event mode adds them apart).
 */
function packChunk(
  projections: readonly Projection[],
  funnelKey: (funnel: NonNullable<Projection['funnel']>) => string | undefined,
): [records: Buffer, dictionary: Buffer] {
  const index = new Map<string, number>();
  const ref = (value: string | undefined): number => {
    if (value === undefined || value === '') return 0;
    let i = index.get(value);
    if (i === undefined) {
      i = index.size + 1;
      index.set(value, i);
      DICTIONARY.str(value);
    }
    return i;
  };
  // A chunk's funnel memberships are nearly all of one app and day: their keys are remembered by
  // step for the last (appid, day) instead of built per event.
  let memoAppid = '';
  let memoDay = '';
  let memo: Partial<Record<FunnelStep, number>> = {};
  const funnelRef = (f: NonNullable<Projection['funnel']>): number => {
    if (f.appid !== memoAppid || f.day !== memoDay) {
      memoAppid = f.appid;
      memoDay = f.day;
      memo = {};
    }
    return (memo[f.step] ??= ref(funnelKey(f)));
  };
  const r = RECORDS;
  for (const p of projections) {
    r.str(p.eventId);
    r.str(sortKey(p.at));
    r.int(ref(p.appid));
    r.str(p.unionid);
    r.str(p.openid);
    r.int(ref(p.eventType));
    r.int(ref(p.flag));
    r.int(p.funnel === undefined ? 0 : funnelRef(p.funnel));
    r.int(p.incr.length);
    for (const [field, delta] of p.incr) {
      r.int(ref(field));
      r.int(delta);
    }
  }
  return [r.finish(), DICTIONARY.finish()];
}
