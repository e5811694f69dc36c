import type { RedisClient } from '@wxmesh/redis';
import type { OAuthChain, RotationRefusal } from '../domain/oauth-grant.js';
import type { SealBox } from './secrets.js';

// KEYS: chain. ARGV: presented digest, new digest, now, reuse grace ms.
// The presented token must be the chain's current one: then the new one replaces it atomically and
// the old joins the spent set. A spent token presented again revokes the chain, unless it was
// rotated within the grace window (a concurrent duplicate of the winning request).
const ROTATE = `
local h = redis.call('HMGET', KEYS[1], 'current', 'revoked', 'refresh_expires_at', 'rotated_at')
if not h[1] then return 'unknown' end
if h[2] == '1' then return 'revoked' end
local now = tonumber(ARGV[3])
if tonumber(h[3]) <= now then return 'unknown' end
if h[1] == ARGV[1] then
  redis.call('HSET', KEYS[1], 'current', ARGV[2], 'spent:' .. ARGV[1], ARGV[3], 'rotated_at', ARGV[3])
  return 'rotated'
end
local spentAt = redis.call('HGET', KEYS[1], 'spent:' .. ARGV[1])
if not spentAt then return 'unknown' end
if now - tonumber(spentAt) < tonumber(ARGV[4]) then return 'concurrent' end
redis.call('HSET', KEYS[1], 'revoked', '1')
return 'reused'
`;

type Scripts = RedisClient & {
  oauthRotate(key: string, presented: string, next: string, now: number, grace: number): Promise<string>;
};

/**
 * The storage codec of the OAuth chains, `wxm:auth:oauth:{<chain id>}`: a hash of the grant (WeChat's
 * tokens sealed with the key as associated data), the `current` refresh-token digest, the
 * `spent:<digest>` times and `revoked`. The only code that knows those field names and the
 * rotation's Lua.
 */
export function createOAuthCodec(redis: RedisClient, box: SealBox) {
  if (!('oauthRotate' in redis)) redis.defineCommand('oauthRotate', { lua: ROTATE, numberOfKeys: 1 });
  const scripts = redis as Scripts;
  const keyOf = (chainId: string) => `wxm:auth:oauth:{${chainId}}`;

  return {
    /** Writes a new chain whose current refresh-token digest is `digest`, kept `ttlMs`. */
    async create(chainId: string, chain: OAuthChain, digest: string, ttlMs: number): Promise<void> {
      const key = keyOf(chainId);
      await scripts
        .multi()
        .hset(key, { ...chainFields(box, key, chain), current: digest })
        .pexpire(key, ttlMs)
        .exec();
    },

    /** Replaces the `presented` digest by `next` atomically; see the Lua above for the outcomes. */
    async rotate(
      chainId: string,
      presented: string,
      next: string,
      now: number,
      reuseGraceMs: number,
    ): Promise<'rotated' | RotationRefusal> {
      const outcome = await scripts.oauthRotate(keyOf(chainId), presented, next, now, reuseGraceMs);
      return outcome as 'rotated' | RotationRefusal;
    },

    /** The chain, or undefined when it is gone or its sealed tokens do not open. */
    async load(chainId: string): Promise<OAuthChain | undefined> {
      const key = keyOf(chainId);
      return chainOfFields(box, key, await scripts.hgetall(key));
    },

    /** Stores WeChat's refreshed user access token on a chain. */
    async updateAccess(chainId: string, accessToken: string, accessExpiresAt: number): Promise<void> {
      const key = keyOf(chainId);
      await scripts.hset(key, {
        access: box.seal(accessToken, key),
        access_expires_at: String(accessExpiresAt),
      });
    },
  };
}

export type OAuthCodec = ReturnType<typeof createOAuthCodec>;

function chainFields(box: SealBox, key: string, chain: OAuthChain): Record<string, string> {
  return {
    appid: chain.appid,
    openid: chain.openid,
    unionid: chain.unionid,
    scopes: chain.scopes.join(' '),
    snapshot: chain.snapshotUser ? '1' : '0',
    access: box.seal(chain.accessToken, key),
    access_expires_at: String(chain.accessExpiresAt),
    wechat_refresh: box.seal(chain.wechatRefreshToken, key),
    refresh_expires_at: String(chain.refreshExpiresAt),
  };
}

function chainOfFields(box: SealBox, key: string, fields: Record<string, string>): OAuthChain | undefined {
  const accessToken = fields.access === undefined ? undefined : box.open(fields.access, key);
  const wechatRefreshToken =
    fields.wechat_refresh === undefined ? undefined : box.open(fields.wechat_refresh, key);
  if (accessToken === undefined || wechatRefreshToken === undefined) return undefined;
  return {
    appid: fields.appid!,
    openid: fields.openid!,
    unionid: fields.unionid ?? '',
    scopes: (fields.scopes ?? '').split(' ').filter(Boolean),
    snapshotUser: fields.snapshot === '1',
    accessToken,
    accessExpiresAt: Number(fields.access_expires_at),
    wechatRefreshToken,
    refreshExpiresAt: Number(fields.refresh_expires_at),
  };
}
