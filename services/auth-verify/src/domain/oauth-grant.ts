import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';
import type { OAuthGrant } from '@wxmesh/wechat';

/** A web OAuth2 grant as the mesh keeps it: WeChat's tokens and the mesh refresh chain's expiry. */
export interface OAuthChain {
  readonly appid: string;
  readonly openid: string;
  readonly unionid: string;
  readonly scopes: string[];
  readonly snapshotUser: boolean;
  readonly accessToken: string;
  /** Epoch ms. */
  readonly accessExpiresAt: number;
  /** WeChat's own refresh_token (which WeChat does not rotate). */
  readonly wechatRefreshToken: string;
  /** When the mesh's refresh chain ends (epoch ms). */
  readonly refreshExpiresAt: number;
}

/** Why presenting a mesh refresh token did not rotate it. */
export type RotationRefusal = 'unknown' | 'revoked' | 'concurrent' | 'reused';

/** Outcome of presenting a mesh refresh token. */
export type RotateResult =
  { kind: 'rotated'; chain: OAuthChain; refreshToken: string } | { kind: RotationRefusal };

/** The chain a fresh WeChat grant starts at `now`; the mesh's refresh tokens live `refreshTtlMs`. */
export function chainOfGrant(
  appid: string,
  grant: OAuthGrant,
  now: number,
  refreshTtlMs: number,
): OAuthChain {
  return {
    appid,
    openid: grant.openid,
    unionid: grant.unionid ?? '',
    scopes: grant.scopes,
    snapshotUser: grant.snapshotUser,
    accessToken: grant.accessToken,
    accessExpiresAt: now + grant.expiresInSeconds * 1000,
    wechatRefreshToken: grant.refreshToken,
    refreshExpiresAt: now + refreshTtlMs,
  };
}

/** A mesh refresh token, `<chain id>.<secret>`: only the secret's digest is stored. */
export interface MeshRefreshToken {
  readonly chainId: string;
  readonly secret: string;
}

/** Splits a presented refresh token; undefined for anything not of the form `<chain id>.<secret>`. */
export function parseRefreshToken(token: string): MeshRefreshToken | undefined {
  const [chainId, secret, extra] = token.split('.');
  if (!chainId || !secret || extra !== undefined) return undefined;
  return { chainId, secret };
}

/** The presented form of a mesh refresh token. */
export function formatRefreshToken(token: MeshRefreshToken): string {
  return `${token.chainId}.${token.secret}`;
}

const REFUSALS: Record<RotationRefusal, [string, Code]> = {
  unknown: ['refresh token is unknown or expired; authorise again', Code.Unauthenticated],
  revoked: ['this grant was revoked after a refresh token was reused; authorise again', Code.Unauthenticated],
  reused: [
    'refresh token was already used: the grant is now revoked as a precaution; authorise again',
    Code.Unauthenticated,
  ],
  concurrent: ['refresh token was just rotated by a concurrent request; use that result', Code.Aborted],
};

/** The error a refused rotation answers, with what the caller must do next. */
export function rotationRefused(refusal: RotationRefusal): ConnectError {
  const [message, code] = REFUSALS[refusal];
  return new ConnectError(message, code);
}

/** The grant message an OAuth RPC answers for `chain`, with the mesh refresh token to use next. */
export function grantMessage(chain: OAuthChain, refreshToken: string) {
  return {
    openid: chain.openid,
    unionid: chain.unionid,
    scopes: chain.scopes,
    accessToken: chain.accessToken,
    accessTokenExpiresAt: timestampFromMs(chain.accessExpiresAt),
    refreshToken,
    refreshTokenExpiresAt: timestampFromMs(chain.refreshExpiresAt),
    snapshotUser: chain.snapshotUser,
  };
}
