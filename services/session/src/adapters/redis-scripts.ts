import type { RedisClient as Redis } from '@wxmesh/redis';

/**
 * Defines each Lua script (all on one key) as a command of the connection, once: connections may
 * be shared between stores. Returns the connection typed with those commands.
 */
export function withScripts<Scripts extends object>(
  redis: Redis,
  scripts: Record<keyof Scripts & string, string>,
): Scripts & Redis {
  for (const [name, lua] of Object.entries<string>(scripts)) {
    if (!(name in redis)) redis.defineCommand(name, { lua, numberOfKeys: 1 });
  }
  return redis as unknown as Scripts & Redis;
}
