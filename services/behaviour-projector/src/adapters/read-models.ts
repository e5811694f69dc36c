import type { RedisClient } from '@wxmesh/redis';
import type { FunnelCounts, Journey } from '../domain/journey.js';
import { emptyFunnelDay, emptyJourney } from '../domain/journey.js';
import { FUNNEL_STEPS, type Projection } from '../domain/projection.js';
import type { ChunkCodec } from './chunk-codec.js';
import { createGenerations, layoutMismatchOf, type Generations } from './generations.js';
import { appliedEventIdsOf, decodeJourney, JOURNEY_FIELDS, JOURNEY_LAYOUT } from './journey-fields.js';
import { createKeys, type Keys } from './keys.js';
import { productionChunkCodec } from './production-chunk-codec.js';

export { LayoutMismatchError } from './generations.js';
export { JOURNEY_LAYOUT } from './journey-fields.js';

/** What one apply did to the active (or the named) generation. */
export interface ApplyCounts {
  applied: number;
  duplicates: number;
}

/** The projector's read models in Redis; see {@link createReadModelStore}. */
export interface ReadModelStore {
  /**
   * Applies the projections, in order, to `generation`, or by default to the live generations:
   * the active one and the shadow a rebuild is filling, if any (shadow first; the first active
   * generation is created when there is none). The live generations are read when the apply
   * runs, so after the events were fetched (a rebuild relies on that, see app/rebuild-read-models.ts);
   * in the batch mode the apply script reads them itself, atomically with its writes.
   * Resolves once Redis has executed all of it; counts are for the active (or the named)
   * generation. Rejects with a {@link LayoutMismatchError}, having written nothing, while a
   * target has another journey layout (the consumer retries: it waits for a rebuild to swap in a
   * generation of this layout); otherwise with the first command's error (then some of it may
   * have been applied, which re-applying corrects, every effect being idempotent).
   */
  apply(projections: readonly Projection[], generation?: string): Promise<ApplyCounts>;
  /** The generation served, or undefined before the first event was ever applied. */
  activeGeneration(): Promise<string | undefined>;
  /**
   * The user's journey in the active generation (an empty one when unknown). Rejects with a
   * {@link LayoutMismatchError} when that generation has another journey layout.
   */
  journey(openid: string): Promise<Journey>;
  /**
   * The event_ids whose dedupe markers the user's journey in `generation` holds: those applied
   * within the dedupe window of its newest event (for checks and audits; scans the hash).
   */
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
   * funnel SADD, each a command of its own, for Redis Cluster (give it an auto-pipelining client,
   * which sends them as one write per node); a fraction of the throughput (EVALSHA costs ~15 µs of
   * Redis CPU per call whatever it does; the README's Batching has what was measured). The service
   * picks it from REDIS_MODE (`applyModeFor` in config.ts).
   */
  applyMode?: 'batch' | 'event';
  /** How chunks are packed and folded (default: the production codec). */
  chunkCodec?: ChunkCodec;
  /**
   * How far (in occurred_at, ms) behind a user's newest applied event the dedupe markers of that
   * user's events are kept (default {@link DEFAULT_DEDUPE_WINDOW_MS}); see the README's "Bounded
   * dedupe". The live projector and a rebuild must use the same window.
   */
  dedupeWindowMs?: number;
}

/** The default dedupe window: 7 days of a user's event time. */
export const DEFAULT_DEDUPE_WINDOW_MS = 7 * 24 * 3_600_000;

type ScriptCommand = (...args: Array<string | Buffer>) => Promise<number>;

/** The codec's two scripts as commands of the client (and its pipelines), by the codec's name. */
function defineApplyScripts(redis: RedisClient, codec: ChunkCodec) {
  const batch = `projectorApplyBatch${codec.name}`;
  const event = `projectorApplyEvent${codec.name}`;
  if (!(batch in redis)) {
    redis.defineCommand(batch, { numberOfKeys: 0, lua: codec.batchScript });
    redis.defineCommand(event, { numberOfKeys: 1, lua: codec.eventScript });
  }
  return { batch, event };
}

// Stands for a generation or an openid when a key is split into the parts around it (neither ever
// holds it).
const MARK = '\u0000';

/** The key parts the batch script joins generations and openids into (ARGV[5..10], see chunk-codec.ts). */
function batchKeyParts(keys: Keys): string[] {
  return [
    ...keys.layoutField(MARK).split(MARK),
    ...keys.generation(MARK).split(MARK),
    ...keys.journeyIn(MARK).split(MARK),
  ];
}

interface ApplyContext {
  redis: RedisClient;
  keys: Keys;
  codec: ChunkCodec;
  generations: Generations;
  newGeneration: () => string;
  /** The dedupe window in ms, as the scripts read it. */
  dedupeWindow: string;
  commands: { batch: string; event: string };
}

/** One script for the whole chunk, which picks its generations itself (see chunk-codec.ts). */
async function applyBatch(
  c: ApplyContext,
  projections: readonly Projection[],
  generation = '',
): Promise<ApplyCounts> {
  const chunk = c.codec.packChunk(projections, (f) => c.keys.funnelIn(f.appid, f.day, f.step));
  const script = (c.redis as unknown as Record<string, ScriptCommand>)[c.commands.batch]!;
  try {
    const applied = await script.call(
      c.redis,
      c.keys.generations,
      generation,
      generation === '' ? c.newGeneration() : '',
      JOURNEY_LAYOUT,
      ...batchKeyParts(c.keys),
      c.dedupeWindow,
      ...chunk,
    );
    return { applied, duplicates: projections.length - applied };
  } catch (err) {
    throw layoutMismatchOf(err);
  }
}

/**
 * Applies each projection to `gen`: its event script on the user's slot and its funnel SADD, each a
 * command of its own, so that a Redis Cluster client sends each to the node of its key (with
 * auto-pipelining, one write per node). Resolves, once every command has run, with how many events
 * were applied (not duplicates); rejects with the first command's error.
 */
async function applyEventsTo(c: ApplyContext, gen: string, projections: readonly Projection[]) {
  const script = (c.redis as unknown as Record<string, ScriptCommand>)[c.commands.event]!;
  const applies: Array<Promise<number>> = [];
  const commands: Array<Promise<number>> = [];
  for (const p of projections) {
    const applied = script.call(
      c.redis,
      c.keys.journey(gen, p.openid),
      c.dedupeWindow,
      ...c.codec.packEvent(p),
    );
    applies.push(applied);
    commands.push(applied);
    if (p.funnel !== undefined)
      commands.push(c.redis.sadd(c.keys.funnel(gen, p.funnel.appid, p.funnel.day, p.funnel.step), p.openid));
  }
  await allSettled(commands);
  return (await Promise.all(applies)).reduce((sum, n) => sum + Number(n), 0);
}

/** The values of `promises` once all have settled; the first rejection (in order) if any. */
async function allSettled<T>(promises: ReadonlyArray<Promise<T>>): Promise<T[]> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/**
 * One script per event and generation on the user's slot, and the funnel SADD apart (Redis Cluster).
 * The shadow's commands are issued before the active generation's, so on each connection they run
 * first (a read after the swap never sees less than before).
 */
async function applyPerEvent(
  c: ApplyContext,
  projections: readonly Projection[],
  generation?: string,
): Promise<ApplyCounts> {
  const targets = generation === undefined ? await c.generations.live() : [generation];
  if (generation !== undefined) await c.generations.assertLayout(targets);
  const perTarget = await allSettled(targets.map((gen) => applyEventsTo(c, gen, projections)));
  const applied = perTarget[perTarget.length - 1]!; // the active (or the named) generation's
  return { applied, duplicates: projections.length - applied };
}

/**
 * Unique users per step for each of `days`, in generation `gen`: one SCARD each, every day's sets
 * sharing one slot, so that a Redis Cluster client sends each to its node (one write per node with
 * auto-pipelining).
 */
async function readFunnel(
  redis: RedisClient,
  keys: Keys,
  gen: string,
  appid: string,
  days: readonly string[],
) {
  const counts = await Promise.all(
    days.map((day) =>
      Promise.all(FUNNEL_STEPS.map((step) => redis.scard(keys.funnel(gen, appid, day, step)))),
    ),
  );
  return days.map((day, d) => {
    const funnelDay = { day } as FunnelCounts;
    FUNNEL_STEPS.forEach((step, s) => {
      funnelDay[step] = Number(counts[d]![s]);
    });
    return funnelDay;
  });
}

/**
 * The read models in Redis. Every user's journey is changed only by the apply scripts, which
 * record the event_id as a marker field of the journey in the same atomic step, so an event is
 * applied to a generation at most once, whoever delivers it how often, as long as it is within
 * the dedupe window of the user's newest event (older markers are pruned: see `dedupeWindowMs`).
 */
export function createReadModelStore(redis: RedisClient, options: ReadModelStoreOptions): ReadModelStore {
  const keys = createKeys(options.prefix);
  const codec = options.chunkCodec ?? productionChunkCodec;
  const generations = createGenerations(redis, keys, options.newGeneration);
  const context: ApplyContext = {
    redis,
    keys,
    codec,
    generations,
    newGeneration: options.newGeneration,
    dedupeWindow: String(options.dedupeWindowMs ?? DEFAULT_DEDUPE_WINDOW_MS),
    commands: defineApplyScripts(redis, codec),
  };
  const applyChunk = (options.applyMode ?? 'batch') === 'batch' ? applyBatch : applyPerEvent;
  return {
    async apply(projections, generation) {
      if (projections.length === 0) return { applied: 0, duplicates: 0 };
      return applyChunk(context, projections, generation);
    },
    activeGeneration: generations.active,
    async journey(openid) {
      const gen = await generations.active();
      if (gen === undefined) return emptyJourney();
      await generations.assertLayout([gen]);
      return decodeJourney(await redis.hmget(keys.journey(gen, openid), ...JOURNEY_FIELDS));
    },
    appliedEventIds: async (generation, openid) =>
      appliedEventIdsOf(await redis.hkeys(keys.journey(generation, openid))),
    async funnel(appid, days) {
      const gen = await generations.active();
      if (gen === undefined || days.length === 0) return days.map(emptyFunnelDay);
      return readFunnel(redis, keys, gen, appid, days);
    },
    beginShadow: generations.beginShadow,
    swap: generations.swap,
    abortShadow: generations.abortShadow,
    dropGeneration: generations.drop,
  };
}
