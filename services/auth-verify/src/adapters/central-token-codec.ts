import type { RedisClient } from '@wxmesh/redis';
import type { CentralCredential } from '../domain/central-credential.js';
import type { SealBox } from './secrets.js';

// KEYS: lock, fence. ARGV: owner, lock ttl. The fence number for the new holder, or 0 when the lock is held.
const ACQUIRE = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return redis.call('INCR', KEYS[2]) end
return 0
`;
// KEYS: token, lock. ARGV: fence, sealed value, expires at, ttl ms, owner. Writes only with a fence at
// least the stored one, so a holder that stalled past its lock cannot overwrite a newer token.
const STORE = `
local current = tonumber(redis.call('HGET', KEYS[1], 'fence') or '0')
if tonumber(ARGV[1]) < current then return 0 end
redis.call('HSET', KEYS[1], 'value', ARGV[2], 'expires_at', ARGV[3], 'fence', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if redis.call('GET', KEYS[2]) == ARGV[5] then redis.call('DEL', KEYS[2]) end
return 1
`;
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

interface Scripts {
  tokenAcquire(lock: string, fence: string, owner: string, ttl: number): Promise<number>;
  tokenStore(
    token: string,
    lock: string,
    fence: number,
    sealed: string,
    expiresAt: number,
    ttl: number,
    owner: string,
  ): Promise<number>;
  tokenRelease(lock: string, owner: string): Promise<number>;
}

/**
 * The storage codec of the central credentials, `wxm:auth:{<appid>}:<kind>` (a hash: the sealed
 * `value`, `expires_at`, the writer's `fence`) with its `:lock` and `:fence` keys: the only code
 * that knows those names and the Lua that guards them.
 */
export function createCentralTokenCodec(redis: RedisClient, box: SealBox, kind: string) {
  for (const [name, lua, numberOfKeys] of [
    ['tokenAcquire', ACQUIRE, 2],
    ['tokenStore', STORE, 2],
    ['tokenRelease', RELEASE, 1],
  ] as const) {
    if (!(name in redis)) redis.defineCommand(name, { lua, numberOfKeys });
  }
  const scripts = redis as unknown as Scripts & RedisClient;
  const keyOf = (appid: string) => `wxm:auth:{${appid}}:${kind}`;

  return {
    /** The stored credential, or undefined when there is none or it does not open. */
    async read(appid: string): Promise<CentralCredential | undefined> {
      const key = keyOf(appid);
      const [sealed, expiresAt] = await scripts.hmget(key, 'value', 'expires_at');
      if (sealed == null || expiresAt == null) return undefined;
      const value = box.open(sealed, key);
      return value === undefined ? undefined : { value, expiresAt: Number(expiresAt) };
    },

    /** Takes the refresh lock for `owner`: its fence number, or 0 when another holder has it. */
    acquire(appid: string, owner: string, lockTtlMs: number): Promise<number> {
      const key = keyOf(appid);
      return scripts.tokenAcquire(`${key}:lock`, `${key}:fence`, owner, lockTtlMs);
    },

    /**
     * Stores `credential` unless a newer fence wrote since, keeping it `ttlMs`, and releases the
     * lock when `owner` still holds it.
     */
    async store(appid: string, credential: CentralCredential, fence: number, ttlMs: number, owner: string) {
      const key = keyOf(appid);
      const sealed = box.seal(credential.value, key);
      await scripts.tokenStore(key, `${key}:lock`, fence, sealed, credential.expiresAt, ttlMs, owner);
    },

    /** Releases the refresh lock if `owner` still holds it. */
    async release(appid: string, owner: string): Promise<void> {
      await scripts.tokenRelease(`${keyOf(appid)}:lock`, owner);
    },
  };
}

export type CentralTokenCodec = ReturnType<typeof createCentralTokenCodec>;
