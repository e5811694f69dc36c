import { z } from 'zod';
import type { WeChatApi } from '../api-client.js';
import { appCredentials, parseAnswer } from './answer.js';

const ACCESS_TOKEN = '/sns/oauth2/access_token';
const REFRESH_TOKEN = '/sns/oauth2/refresh_token';

const expiresIn = z.number().int().nonnegative();
const grantAnswer = z.object({
  access_token: z.string().min(1),
  expires_in: expiresIn,
  refresh_token: z.string().min(1),
  openid: z.string().min(1),
  scope: z.string(),
  is_snapshotuser: z.number().int().optional(),
  unionid: z.string().min(1).optional(),
});
const refreshAnswer = z.object({ access_token: z.string().min(1), expires_in: expiresIn });

/** A web OAuth2 grant as WeChat issues it for an authorisation code. */
export interface OAuthGrant {
  readonly accessToken: string;
  readonly expiresInSeconds: number;
  /** WeChat's refresh_token (WeChat does not rotate it). A secret. */
  readonly refreshToken: string;
  readonly openid: string;
  readonly unionid: string | undefined;
  /** `snsapi_base`, `snsapi_userinfo`, ... (WeChat sends them comma-separated). */
  readonly scopes: string[];
  /** The user only previewed the page (a "snapshot" user): no real identity was granted. */
  readonly snapshotUser: boolean;
}

/**
 * `GET /sns/oauth2/access_token`: redeems a web OAuth2 code (single-use: `invalid-code` or
 * `code-used`) for the user's grant.
 */
export async function exchangeOAuthCode(
  api: WeChatApi,
  input: { appid: string; appSecret: string; code: string },
  signal?: AbortSignal,
): Promise<OAuthGrant> {
  const query = { ...appCredentials(input), code: input.code, grant_type: 'authorization_code' };
  const answer = parseAnswer(ACCESS_TOKEN, grantAnswer, await api.get<unknown>(ACCESS_TOKEN, query, signal));
  return {
    accessToken: answer.access_token,
    expiresInSeconds: answer.expires_in,
    refreshToken: answer.refresh_token,
    openid: answer.openid,
    unionid: answer.unionid,
    scopes: answer.scope
      .split(',')
      .map((scope) => scope.trim())
      .filter(Boolean),
    snapshotUser: answer.is_snapshotuser === 1,
  };
}

/**
 * `GET /sns/oauth2/refresh_token`: a new user access_token for WeChat's refresh_token
 * (`refresh-token-invalid` or `refresh-token-expired` when WeChat no longer takes it).
 */
export async function refreshOAuthAccessToken(
  api: WeChatApi,
  input: { appid: string; refreshToken: string },
  signal?: AbortSignal,
): Promise<{ accessToken: string; expiresInSeconds: number }> {
  const query = { appid: input.appid, grant_type: 'refresh_token', refresh_token: input.refreshToken };
  const answer = parseAnswer(
    REFRESH_TOKEN,
    refreshAnswer,
    await api.get<unknown>(REFRESH_TOKEN, query, signal),
  );
  return { accessToken: answer.access_token, expiresInSeconds: answer.expires_in };
}
