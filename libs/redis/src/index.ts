export {
  createRedisClient,
  isRedisUnavailable,
  pingRedis,
  redisDependency,
  type RedisClientOptions,
  type RedisClientSettings,
  type RedisLogger,
} from './redis-client.js';
export {
  openRedis,
  urlSecurity,
  hostAndPort,
  type RedisClient,
  type RedisConnection,
} from './redis-connection.js';
