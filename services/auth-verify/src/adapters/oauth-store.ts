import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { SealBox } from './secrets.js';

/** A web OAuth2 grant as stored (WeChat's tokens sealed). */
export interface OAuthChain {
  readonly appid: string;
  readonly openid: string;
  readonly unionid: string;
  readonly scopes: string[];
  readonly snapshotUser: boolean;
  readonly accessToken: string;
  readonly accessExpiresAt: number;
  /** WeChat's own refresh_token (which WeChat does not rotate). */
  readonly wechatRefreshToken: string;
  readonly refreshExpiresAt: number;
}

/** Outcome of presenting a mesh refresh token. */
export type RotateResult =
  | { kind: 'rotated'; chain: OAuthChain; refreshToken: string }
  | { kind: 'unknown' }
  | { kind: 'revoked' }
  | { kind: 'concurrent' }
  | { kind: 'reused' };

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

const digest = (secret: string) => createHash('sha256').update(secret).digest('base64url');

/**
 * Web OAuth2 grants. WeChat's refresh_token does not rotate, so the mesh issues its own
 * single-use refresh tokens (`<chain id>.<secret>`, only the secret's SHA-256 stored) over a
 * chain that holds WeChat's tokens sealed with AES-256-GCM. Rotation is one Lua script: of many
 * concurrent refreshes with one token exactly one wins; presenting an already-rotated token later
 * revokes the whole chain (the standard refresh-token-reuse defence).
 */
export function createOAuthStore(
  redis: Redis,
  box: SealBox,
  options: { now: () => number; reuseGraceMs: number },
) {
  if (!('oauthRotate' in redis)) redis.defineCommand('oauthRotate', { lua: ROTATE, numberOfKeys: 1 });
  const r = redis as unknown as Redis & {
    oauthRotate(key: string, presented: string, next: string, now: number, grace: number): Promise<string>;
  };
  const keyOf = (chainId: string) => `wxm:auth:oauth:{${chainId}}`;
  const newSecret = () => randomBytes(32).toString('base64url');

  function toFields(key: string, chain: OAuthChain): Record<string, string> {
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

  async function load(chainId: string): Promise<OAuthChain | undefined> {
    const key = keyOf(chainId);
    const h = await r.hgetall(key);
    const accessToken = h.access === undefined ? undefined : box.open(h.access, key);
    const wechatRefreshToken = h.wechat_refresh === undefined ? undefined : box.open(h.wechat_refresh, key);
    if (accessToken === undefined || wechatRefreshToken === undefined) return undefined;
    return {
      appid: h.appid!,
      openid: h.openid!,
      unionid: h.unionid ?? '',
      scopes: (h.scopes ?? '').split(' ').filter(Boolean),
      snapshotUser: h.snapshot === '1',
      accessToken,
      accessExpiresAt: Number(h.access_expires_at),
      wechatRefreshToken,
      refreshExpiresAt: Number(h.refresh_expires_at),
    };
  }

  return {
    /** Starts a chain; returns its first mesh refresh token. */
    async create(chain: OAuthChain): Promise<string> {
      const chainId = randomBytes(16).toString('base64url');
      const secret = newSecret();
      const key = keyOf(chainId);
      await r
        .multi()
        .hset(key, { ...toFields(key, chain), current: digest(secret) })
        .pexpire(key, Math.max(1, chain.refreshExpiresAt - options.now()))
        .exec();
      return `${chainId}.${secret}`;
    },

    /** Spends a mesh refresh token; see {@link RotateResult}. */
    async rotate(appid: string, refreshToken: string): Promise<RotateResult> {
      const [chainId, secret, extra] = refreshToken.split('.');
      if (!chainId || !secret || extra !== undefined) return { kind: 'unknown' };
      const next = newSecret();
      const outcome = await r.oauthRotate(
        keyOf(chainId),
        digest(secret),
        digest(next),
        options.now(),
        options.reuseGraceMs,
      );
      if (outcome !== 'rotated') return { kind: outcome as 'unknown' | 'revoked' | 'concurrent' | 'reused' };
      const chain = await load(chainId);
      if (chain === undefined || chain.appid !== appid) return { kind: 'unknown' };
      return { kind: 'rotated', chain, refreshToken: `${chainId}.${next}` };
    },

    /** Stores WeChat's refreshed access token on a chain. */
    async updateAccess(refreshToken: string, accessToken: string, accessExpiresAt: number): Promise<void> {
      const chainId = refreshToken.split('.')[0]!;
      const key = keyOf(chainId);
      await r.hset(key, { access: box.seal(accessToken, key), access_expires_at: String(accessExpiresAt) });
    },
  };
}

export type OAuthStore = ReturnType<typeof createOAuthStore>;
