import type { ExchangeOAuthCodeRequest, RefreshOAuthTokenRequest } from '@wxmesh/contracts';
import type { RpcContext } from '@wxmesh/rpc';
import { exchangeOAuthCode as exchangeAtWeChat, refreshOAuthAccessToken } from '@wxmesh/wechat';
import { answeringWeChatFailures } from '../adapters/wechat-gateway.js';
import { oauthAuthorized } from '../domain/behaviour-events.js';
import { chainOfGrant, grantMessage, parseRefreshToken, rotationRefused } from '../domain/oauth-grant.js';
import { configuredAppSecret } from './configured-app.js';
import type { AuthDeps } from './deps.js';
import { emitBestEffort } from './emit-event.js';

/**
 * ExchangeOAuthCode: redeems a web OAuth2 code at WeChat, starts a mesh refresh chain over the
 * grant and emits `OAuthAuthorized`.
 */
export async function exchangeOAuthCode(deps: AuthDeps, request: ExchangeOAuthCodeRequest, ctx: RpcContext) {
  const { signal } = ctx;
  const appSecret = configuredAppSecret(deps, request.appid);
  const input = { appid: request.appid, appSecret, code: request.code };
  const grant = await answeringWeChatFailures(() =>
    deps.wechat.call((api, s) => exchangeAtWeChat(api, input, s), signal),
  );
  const at = deps.now();
  const chain = chainOfGrant(request.appid, grant, at, deps.oauthRefreshTtlMs);
  signal.throwIfAborted();
  const refreshToken = await deps.oauth.create(chain);
  const chainId = parseRefreshToken(refreshToken)!.chainId;
  await emitBestEffort(deps, oauthAuthorized(chain, chainId, chain, at), signal);
  return { grant: grantMessage(chain, refreshToken) };
}

/**
 * RefreshOAuthToken: spends the presented mesh refresh token (never after the caller stopped
 * waiting: rotation cannot be undone), then gets a new user access token from WeChat for the chain.
 */
export async function refreshOAuthToken(deps: AuthDeps, request: RefreshOAuthTokenRequest, ctx: RpcContext) {
  const { signal } = ctx;
  signal.throwIfAborted();
  const result = await deps.oauth.rotate(request.appid, request.refreshToken);
  if (result.kind !== 'rotated') throw rotationRefused(result.kind);
  const input = { appid: request.appid, refreshToken: result.chain.wechatRefreshToken };
  const access = await answeringWeChatFailures(() =>
    deps.wechat.call((api, s) => refreshOAuthAccessToken(api, input, s), signal),
  );
  const accessExpiresAt = deps.now() + access.expiresInSeconds * 1000;
  signal.throwIfAborted();
  await deps.oauth.updateAccess(result.refreshToken, access.accessToken, accessExpiresAt);
  const chain = { ...result.chain, accessToken: access.accessToken, accessExpiresAt };
  return { grant: grantMessage(chain, result.refreshToken) };
}
