// The generations hash (`<prefix>generations`): `active` → the generation served and written,
// `shadow` → one being rebuilt (also written), `layout:<generation>` → the journey layout that
// generation was built with. Its scripts and the layout checks live here.
import type { RedisClient } from '@wxmesh/redis';
import { Cluster, ReplyError, type Redis } from 'ioredis';
import { JOURNEY_LAYOUT } from './journey-fields.js';
import type { Keys } from './keys.js';

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

type GenerationsRedis = RedisClient & {
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

const LAYOUT_MISMATCH_REPLY = /^LAYOUT_MISMATCH (\S+) (\S+)$/;

/** The {@link LayoutMismatchError} an apply script's error reply stands for, or `err` itself. */
export function layoutMismatchOf(err: unknown): unknown {
  const mismatch = err instanceof ReplyError && LAYOUT_MISMATCH_REPLY.exec((err as Error).message);
  return mismatch ? new LayoutMismatchError(mismatch[1]!, mismatch[2]!) : err;
}

function defineGenerationScripts(redis: GenerationsRedis): void {
  if (typeof redis.projectorSwap === 'function') return;
  redis.defineCommand('projectorBeginShadow', { numberOfKeys: 1, lua: BEGIN_SHADOW });
  redis.defineCommand('projectorCreateActive', { numberOfKeys: 1, lua: CREATE_ACTIVE });
  redis.defineCommand('projectorSwap', { numberOfKeys: 1, lua: SWAP });
  redis.defineCommand('projectorAbortShadow', { numberOfKeys: 1, lua: ABORT_SHADOW });
}

/**
 * Remembers the layout of each generation met (a generation's layout never changes, so the map
 * only grows by one entry per generation) and checks targets against this code's.
 */
function createLayoutCheck(redis: RedisClient, keys: Keys) {
  const layouts = new Map<string, string>();
  return {
    /** Throws a LayoutMismatchError unless every one of `gens` was built with JOURNEY_LAYOUT. */
    async assert(gens: readonly string[]): Promise<void> {
      const unknown = gens.filter((g) => !layouts.has(g));
      if (unknown.length > 0) {
        const found = await redis.hmget(keys.generations, ...unknown.map(keys.layoutField));
        unknown.forEach((g, i) => layouts.set(g, found[i] ?? '1'));
      }
      for (const g of gens) {
        if (layouts.get(g) !== JOURNEY_LAYOUT) throw new LayoutMismatchError(g, layouts.get(g)!);
      }
    },
    forget: (gen: string) => layouts.delete(gen),
  };
}

/**
 * Unlinks `keys`, found on `node`: at once on a single Redis; on a Cluster node each key by a command
 * of its own (one pipeline), as a node refuses a command whose keys lie in several slots (`CROSSSLOT`)
 * and a generation's keys lie in many.
 */
async function unlinkFound(node: Redis, keys: readonly string[], inCluster: boolean): Promise<number> {
  if (!inCluster) return node.unlink(...keys);
  let unlinked = 0;
  for (const [err, count] of (await node.pipeline(keys.map((key) => ['unlink', key])).exec()) ?? []) {
    if (err) throw err;
    unlinked += Number(count);
  }
  return unlinked;
}

/** Deletes every key under `pattern` on one server (SCAN + UNLINK); resolves with how many. */
async function unlinkMatchingOn(node: Redis, pattern: string, inCluster: boolean): Promise<number> {
  let cursor = '0';
  let dropped = 0;
  do {
    const [next, found] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (found.length > 0) dropped += await unlinkFound(node, found, inCluster);
  } while (cursor !== '0');
  return dropped;
}

/**
 * Deletes every key under `pattern` (SCAN + UNLINK); resolves with how many. A SCAN walks one
 * server's keys, so on a Redis Cluster every primary is scanned.
 */
async function unlinkMatching(redis: RedisClient, pattern: string): Promise<number> {
  if (!(redis instanceof Cluster)) return unlinkMatchingOn(redis, pattern, false);
  const dropped = await Promise.all(
    redis.nodes('master').map((node) => unlinkMatchingOn(node, pattern, true)),
  );
  return dropped.reduce((sum, n) => sum + n, 0);
}

/** The generations of one key prefix: which are live, their layouts, and the rebuild's steps. */
export function createGenerations(redisClient: RedisClient, keys: Keys, newGeneration: () => string) {
  const redis = redisClient as GenerationsRedis;
  defineGenerationScripts(redis);
  const layouts = createLayoutCheck(redis, keys);
  const active = async () => (await redis.hget(keys.generations, 'active')) ?? undefined;
  return {
    active,
    assertLayout: layouts.assert,
    /** The live generations (shadow first), creating the first active one; checked for layout. */
    async live(): Promise<string[]> {
      let [current, shadow] = await redis.hmget(keys.generations, 'active', 'shadow');
      if (current == null) {
        const gen = newGeneration();
        await redis.projectorCreateActive(keys.generations, gen, keys.layoutField(gen), JOURNEY_LAYOUT);
        [current, shadow] = await redis.hmget(keys.generations, 'active', 'shadow');
      }
      const targets = shadow != null && shadow !== current ? [shadow, current!] : [current!];
      await layouts.assert(targets);
      return targets;
    },
    async beginShadow(gen: string): Promise<string | undefined> {
      const layoutField = keys.layoutField(gen);
      return (
        (await redis.projectorBeginShadow(keys.generations, gen, layoutField, JOURNEY_LAYOUT)) ?? undefined
      );
    },
    swap: async (gen: string) => (await redis.projectorSwap(keys.generations, gen)) ?? undefined,
    async abortShadow(gen: string): Promise<void> {
      await redis.projectorAbortShadow(keys.generations, gen);
    },
    async drop(gen: string): Promise<number> {
      if (gen === (await active())) throw new Error(`generation ${gen} is active; not dropping it`);
      const dropped = await unlinkMatching(redis, `${keys.generation(gen)}*`);
      await redis.hdel(keys.generations, keys.layoutField(gen));
      layouts.forget(gen);
      return dropped;
    },
  };
}

export type Generations = ReturnType<typeof createGenerations>;
