import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import type { GetAccessTokenRequest, InvalidateAccessTokenRequest } from '@wxmesh/contracts';
import type { RpcContext } from '@wxmesh/rpc';
import { WeChatApiError } from '@wxmesh/wechat';
import { answeringWeChatFailures } from '../adapters/wechat-gateway.js';
import { configuredAppSecret } from './configured-app.js';
import type { AuthDeps } from './deps.js';

/**
 * Runs `call` with the app's central access_token, once more with a fresh one when WeChat says
 * it is dead (`token-invalid`). The token itself is shared work (one refresh serves every caller
 * and replica), so its refresh is not cut by this caller's deadline; `call` is, and takes the
 * caller's signal itself.
 */
export async function withAccessToken<T>(
  deps: Pick<AuthDeps, 'accessTokens'>,
  appid: string,
  call: (token: string) => Promise<T>,
): Promise<T> {
  const first = await deps.accessTokens.get(appid);
  try {
    return await call(first.value);
  } catch (err) {
    if (!(err instanceof WeChatApiError && err.kind === 'token-invalid')) throw err;
    const { token } = await deps.accessTokens.invalidate(appid, first.value);
    return call(token.value);
  }
}

/** GetAccessToken: the app's central access_token for a mesh peer. */
export async function getAccessToken(deps: AuthDeps, request: GetAccessTokenRequest) {
  configuredAppSecret(deps, request.appid);
  const token = await answeringWeChatFailures(() => deps.accessTokens.get(request.appid));
  return { accessToken: token.value, expiresAt: timestampFromMs(token.expiresAt) };
}

/**
 * InvalidateAccessToken: a peer reports a token WeChat rejected. A forced refresh retires the
 * token for every replica, so it starts only for a caller still waiting.
 */
export async function invalidateAccessToken(
  deps: AuthDeps,
  request: InvalidateAccessTokenRequest,
  ctx: Pick<RpcContext, 'signal'>,
) {
  configuredAppSecret(deps, request.appid);
  ctx.signal.throwIfAborted();
  const { token, refreshed } = await answeringWeChatFailures(() =>
    deps.accessTokens.invalidate(request.appid, request.accessToken),
  );
  return { refreshed, accessToken: token.value, expiresAt: timestampFromMs(token.expiresAt) };
}
