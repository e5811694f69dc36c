import { redisConnection, type RedisConfigFields } from '@wxmesh/config';
import { createRedisClient, type RedisClient, type RedisLogger } from '@wxmesh/redis';

/**
 * The router's Redis clients (not yet connected), in any REDIS_MODE: one for commands, and one per
 * blocking stream reader, because a blocked XREADGROUP holds its connection. The readers are opened
 * for blocking (`role: 'blocking'`): each read is bounded by its own BLOCK time plus
 * DEPENDENCY_TIMEOUT_MS, where a commands connection's timeout (no longer than a BLOCK) would fail
 * every read that waits out its BLOCK on an idle queue.
 */
export function createRouterRedis(
  config: RedisConfigFields & { readonly DEPENDENCY_TIMEOUT_MS: number },
  logger: RedisLogger,
): { redis: RedisClient; queueReader: RedisClient; inboundReader: RedisClient } {
  const options = { connection: redisConnection(config), logger, timeoutMs: config.DEPENDENCY_TIMEOUT_MS };
  return {
    redis: createRedisClient({ ...options, name: 'message-router', autoPipelining: true }),
    queueReader: createRedisClient({ ...options, name: 'message-router-reader', role: 'blocking' }),
    inboundReader: createRedisClient({ ...options, name: 'message-router-inbound-reader', role: 'blocking' }),
  };
}
