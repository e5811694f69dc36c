import type { Redis } from 'ioredis';
import type { SealBox } from './secrets.js';

/** The Redis key of a user's session_key for one mini-program (the box's associated data too). */
const sessionKeyKey = (openid: string, appid: string) => `wxm:auth:{${openid}}:session_key:${appid}`;

/**
 * The users' session_keys, sealed at rest with AES-256-GCM under `wxm:auth:{openid}:session_key:<appid>`
 * (the key is the seal's associated data, so a value copied to another user's key does not open).
 * A session_key lives `ttlMs`, the login session's maximum age.
 */
export function createSessionKeyStore(redis: Redis, box: SealBox, options: { ttlMs: number }) {
  return {
    /** Keeps the user's new session_key, replacing the previous one as WeChat itself does. */
    async keep(openid: string, appid: string, sessionKey: string): Promise<void> {
      const key = sessionKeyKey(openid, appid);
      await redis.set(key, box.seal(sessionKey, key), 'PX', options.ttlMs);
    },

    /** The user's session_key, or undefined when none is held (expired, or sealed under another key). */
    async read(openid: string, appid: string): Promise<string | undefined> {
      const key = sessionKeyKey(openid, appid);
      const sealed = await redis.get(key);
      return sealed === null ? undefined : box.open(sealed, key);
    },
  };
}

export type SessionKeyStore = ReturnType<typeof createSessionKeyStore>;
