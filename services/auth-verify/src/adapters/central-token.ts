import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { SealBox } from './secrets.js';

/** A central credential (access_token, jsapi_ticket) as callers get it. */
export interface CentralToken {
  readonly value: string;
  /** Epoch ms. */
  readonly expiresAt: number;
}

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

/** Options of {@link createCentralToken}. */
export interface CentralTokenOptions {
  readonly redis: Redis;
  readonly box: SealBox;
  /** `access_token` or `jsapi_ticket`: part of the key. */
  readonly kind: string;
  /** Gets a fresh credential from WeChat; `force` asks WeChat for a new one even if its current one lives. */
  readonly fetch: (appid: string, force: boolean) => Promise<CentralToken>;
  readonly now: () => number;
  /** Refresh this long before expiry. */
  readonly refreshBeforeMs: number;
  /** How long a refresher may hold the lock (longer than a WeChat call's budget). */
  readonly lockTtlMs?: number;
  /** How long a caller waits for another replica's refresh before giving up. */
  readonly waitMs?: number;
  readonly onBackgroundError?: (err: unknown) => void;
}

/**
 * One credential per app shared by every replica through Redis (the WeChat rule: each new token
 * invalidates the previous one after 5 minutes, so replicas must not fetch their own).
 *
 * Exactly one replica refreshes at a time: a Redis lock with a fencing number; the write is a Lua
 * script that refuses a fence older than the stored one. Callers that lose the race wait for the
 * winner's token instead of fetching. A token within `refreshBeforeMs` of expiry is still served
 * while one refresh runs in the background. `invalidate(seen)` refreshes only if the stored token
 * is still the one the caller saw fail, so a crowd reporting one dead token causes one refresh.
 */
export function createCentralToken(options: CentralTokenOptions) {
  const { redis, box, kind, now, refreshBeforeMs } = options;
  const lockTtlMs = options.lockTtlMs ?? 10_000;
  const waitMs = options.waitMs ?? 8_000;
  for (const [name, lua, numberOfKeys] of [
    ['tokenAcquire', ACQUIRE, 2],
    ['tokenStore', STORE, 2],
    ['tokenRelease', RELEASE, 1],
  ] as const) {
    if (!(name in redis)) redis.defineCommand(name, { lua, numberOfKeys });
  }
  const r = redis as unknown as Scripts & Redis;
  const keyOf = (appid: string) => `wxm:auth:{${appid}}:${kind}`;
  const background = new Set<string>();

  async function read(appid: string): Promise<CentralToken | undefined> {
    const key = keyOf(appid);
    const [sealed, expiresAt] = await r.hmget(key, 'value', 'expires_at');
    if (sealed == null || expiresAt == null) return undefined;
    const value = box.open(sealed, key);
    return value === undefined ? undefined : { value, expiresAt: Number(expiresAt) };
  }

  const fresh = (token: CentralToken | undefined) =>
    token !== undefined && now() < token.expiresAt - refreshBeforeMs;

  /**
   * Refreshes unless `satisfied` says the stored token is already good; returns the token and
   * whether this call fetched it.
   */
  async function refresh(
    appid: string,
    force: boolean,
    satisfied: (stored: CentralToken | undefined) => boolean,
  ): Promise<{ token: CentralToken; refreshed: boolean }> {
    const key = keyOf(appid);
    const owner = randomBytes(12).toString('base64url');
    const deadline = Date.now() + waitMs;
    for (let attempt = 0; ; attempt++) {
      const fence = await r.tokenAcquire(`${key}:lock`, `${key}:fence`, owner, lockTtlMs);
      if (fence > 0) {
        try {
          const stored = await read(appid);
          if (satisfied(stored)) return { token: stored!, refreshed: false };
          const token = await options.fetch(appid, force);
          const ttl = Math.max(1, token.expiresAt - now());
          await r.tokenStore(
            key,
            `${key}:lock`,
            fence,
            box.seal(token.value, key),
            token.expiresAt,
            ttl,
            owner,
          );
          return { token, refreshed: true };
        } finally {
          await r.tokenRelease(`${key}:lock`, owner);
        }
      }
      // Another replica is refreshing: wait for its result rather than fetching a second token.
      await new Promise((resolve) =>
        setTimeout(resolve, Math.min(200, 20 * 2 ** attempt) * (0.5 + Math.random())),
      );
      const stored = await read(appid);
      if (satisfied(stored)) return { token: stored!, refreshed: false };
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for another replica to refresh the ${kind}`);
    }
  }

  return {
    /** The app's current credential, fetching it when there is none or it has expired. */
    async get(appid: string): Promise<CentralToken> {
      const stored = await read(appid);
      if (fresh(stored)) return stored!;
      if (stored !== undefined && now() < stored.expiresAt) {
        if (!background.has(appid)) {
          background.add(appid);
          refresh(appid, false, fresh)
            .catch((err: unknown) => options.onBackgroundError?.(err))
            .finally(() => background.delete(appid));
        }
        return stored;
      }
      return (await refresh(appid, false, fresh)).token;
    },

    /**
     * Reports `seen` as rejected by WeChat. Refreshes (forcing a new token) only when the stored
     * token is still `seen`; otherwise returns the newer one.
     */
    async invalidate(appid: string, seen: string) {
      const stored = await read(appid);
      if (stored !== undefined && stored.value !== seen) return { token: stored, refreshed: false };
      return refresh(appid, true, (current) => current !== undefined && current.value !== seen);
    },
  };
}

export type CentralTokens = ReturnType<typeof createCentralToken>;
