import type { RedisClient } from '@wxmesh/redis';
import type { SealBox } from './key-ring.js';

/** The Redis key of a user's session_key for one mini-program (the box's associated data too). */
const sessionKeyKey = (openid: string, appid: string) => `wxm:auth:{${openid}}:session_key:${appid}`;

/** Replaces the sealed value with its re-sealed form, keeping its TTL, unless a login replaced it since. */
const RESEAL = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
end
return false
`;

type ResealingRedis = RedisClient & {
  sessionKeyReseal(key: string, sealed: string, resealed: string): Promise<unknown>;
};

/**
 * A session_key sealed under an at-rest key the key ring does not list: the user must log in
 * again. The message names the key ids, never a key or the value.
 */
export class SessionKeyUnreadableError extends Error {
  override readonly name = 'SessionKeyUnreadableError';
}

/**
 * The users' session_keys, sealed at rest with AES-256-GCM under `wxm:auth:{openid}:session_key:<appid>`
 * (the key is the seal's associated data, so a value copied to another user's key does not open).
 * A session_key lives `ttlMs`, the login session's maximum age. One read under an older key of the
 * ring re-seals it under the newest (lazily, so a rotation needs no migration pass).
 */
export function createSessionKeyStore(redis: RedisClient, box: SealBox, options: { ttlMs: number }) {
  if (!('sessionKeyReseal' in redis))
    redis.defineCommand('sessionKeyReseal', { lua: RESEAL, numberOfKeys: 1 });
  const scripts = redis as ResealingRedis;
  return {
    /** Keeps the user's new session_key, replacing the previous one as WeChat itself does. */
    async keep(openid: string, appid: string, sessionKey: string): Promise<void> {
      const key = sessionKeyKey(openid, appid);
      await redis.set(key, box.seal(sessionKey, key), 'PX', options.ttlMs);
    },

    /**
     * The user's session_key, or undefined when none is held (expired, or not one this ring
     * sealed for this key); re-sealed under the newest key when an older one opened it.
     * {@link SessionKeyUnreadableError} when it was sealed under a key since removed from the ring.
     */
    async read(openid: string, appid: string): Promise<string | undefined> {
      const key = sessionKeyKey(openid, appid);
      const sealed = await redis.get(key);
      if (sealed === null) return undefined;
      const opened = box.unseal(sealed, key);
      if (opened.outcome === 'retired-key')
        throw new SessionKeyUnreadableError(`session_key ${opened.problem}`);
      if (opened.outcome === 'invalid') return undefined;
      if (opened.stale) await scripts.sessionKeyReseal(key, sealed, box.seal(opened.plain, key));
      return opened.plain;
    },
  };
}

export type SessionKeyStore = ReturnType<typeof createSessionKeyStore>;
