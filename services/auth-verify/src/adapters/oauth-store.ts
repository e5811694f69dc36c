import { createHash, randomBytes } from 'node:crypto';
import type { RedisClient } from '@wxmesh/redis';
import {
  formatRefreshToken,
  parseRefreshToken,
  type OAuthChain,
  type RotateResult,
} from '../domain/oauth-grant.js';
import { createOAuthCodec } from './oauth-codec.js';
import type { SealBox } from './secrets.js';

const digest = (secret: string) => createHash('sha256').update(secret).digest('base64url');
const newSecret = () => randomBytes(32).toString('base64url');

/**
 * Web OAuth2 grants. WeChat's refresh_token does not rotate, so the mesh issues its own
 * single-use refresh tokens (`<chain id>.<secret>`, only the secret's SHA-256 stored) over a
 * chain that holds WeChat's tokens sealed with AES-256-GCM. Rotation is one Lua script: of many
 * concurrent refreshes with one token exactly one wins; presenting an already-rotated token later
 * revokes the whole chain (the standard refresh-token-reuse defence).
 */
export function createOAuthStore(
  redis: RedisClient,
  box: SealBox,
  options: { now: () => number; reuseGraceMs: number },
) {
  const codec = createOAuthCodec(redis, box);
  return {
    /** Starts a chain; returns its first mesh refresh token. */
    async create(chain: OAuthChain): Promise<string> {
      const token = { chainId: randomBytes(16).toString('base64url'), secret: newSecret() };
      const ttlMs = Math.max(1, chain.refreshExpiresAt - options.now());
      await codec.create(token.chainId, chain, digest(token.secret), ttlMs);
      return formatRefreshToken(token);
    },

    /** Spends a mesh refresh token; see {@link RotateResult}. */
    async rotate(appid: string, refreshToken: string): Promise<RotateResult> {
      const presented = parseRefreshToken(refreshToken);
      if (presented === undefined) return { kind: 'unknown' };
      const next = { chainId: presented.chainId, secret: newSecret() };
      const outcome = await codec.rotate(
        presented.chainId,
        digest(presented.secret),
        digest(next.secret),
        options.now(),
        options.reuseGraceMs,
      );
      if (outcome !== 'rotated') return { kind: outcome };
      const chain = await codec.load(presented.chainId);
      if (chain === undefined || chain.appid !== appid) return { kind: 'unknown' };
      return { kind: 'rotated', chain, refreshToken: formatRefreshToken(next) };
    },

    /** Stores WeChat's refreshed access token on the chain of `refreshToken`. */
    async updateAccess(refreshToken: string, accessToken: string, accessExpiresAt: number): Promise<void> {
      const chainId = refreshToken.split('.')[0]!;
      await codec.updateAccess(chainId, accessToken, accessExpiresAt);
    },
  };
}

export type OAuthStore = ReturnType<typeof createOAuthStore>;
