// The Redis clients and store options the live projector (main.ts) and the rebuild
// (rebuild-main.ts) open from the same configuration: they write the same generations, so they
// must agree on the key prefix, the dedupe window and how chunks are applied.
import { redisConnection, type RedisConfigFields } from '@wxmesh/config';
import { createRedisClient, type RedisClient, type RedisLogger } from '@wxmesh/redis';
import { applyModeFor, type ProjectorConfig } from '../config.js';
import type { ReadModelStoreOptions } from './read-models.js';

type RedisSettings = RedisConfigFields & Pick<ProjectorConfig, 'DEPENDENCY_TIMEOUT_MS'>;

/**
 * The read-model store's options from config: its key prefix, dedupe window and apply mode (by
 * REDIS_MODE, see {@link applyModeFor}). `newGeneration` names the first generation.
 */
export function readModelStoreOptions(
  config: Pick<ProjectorConfig, 'KEY_PREFIX' | 'DEDUPE_WINDOW' | 'REDIS_MODE'>,
  newGeneration: () => string,
): ReadModelStoreOptions {
  return {
    prefix: config.KEY_PREFIX,
    newGeneration,
    dedupeWindowMs: config.DEDUPE_WINDOW,
    applyMode: applyModeFor(config.REDIS_MODE),
  };
}

/**
 * The client chunks are applied on (call `connect()`), in any REDIS_MODE. In the batch mode each
 * chunk's one script must reach Redis at once, so it has no auto-pipelining (that defers a command
 * to setImmediate, after the next chunk was decoded) and Redis folds a chunk while this process
 * decodes the next. In the per-event mode (Redis Cluster) auto-pipelining is what sends a chunk's
 * commands as one write per node. A chunk may run long on a busy server; the consumer retries it and
 * no caller waits on it, so its wait is longer than DEPENDENCY_TIMEOUT_MS.
 */
export function createApplyRedis(config: RedisSettings, logger: RedisLogger, name: string): RedisClient {
  return createRedisClient({
    connection: redisConnection(config),
    name,
    logger,
    timeoutMs: Math.max(config.DEPENDENCY_TIMEOUT_MS, 30_000),
    autoPipelining: applyModeFor(config.REDIS_MODE) === 'event',
  });
}
