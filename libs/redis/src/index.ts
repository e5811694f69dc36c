export {
  createRedisClient,
  isRedisUnavailable,
  pingRedis,
  redisDependency,
  type RedisClientOptions,
  type RedisLogger,
} from './redis-client.js';
