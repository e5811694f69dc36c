import type { LoginRequest } from '@wxmesh/contracts';
import type { RpcContext } from '@wxmesh/rpc';
import { jscode2session, type CodeSession } from '@wxmesh/wechat';
import { answeringWeChatFailures } from '../adapters/wechat-gateway.js';
import { userLoggedIn } from '../domain/behaviour-events.js';
import { assertLoginApp, assertLoginUser } from '../domain/login-caller.js';
import { configuredAppSecret } from './configured-app.js';
import type { AuthDeps } from './deps.js';
import { emitBestEffort } from './emit-event.js';

/**
 * Login: redeems the wx.login code at WeChat, keeps the user's session_key (sealed; it never
 * leaves this service), creates the mesh session and emits `UserLoggedIn`. Behind the cloud
 * gateway the app is checked before the code is spent and the user right after.
 */
export async function login(deps: AuthDeps, request: LoginRequest, ctx: RpcContext) {
  assertLoginApp(ctx.caller, request.appid);
  const user = await redeemLoginCode(deps, request, ctx.signal);
  assertLoginUser(ctx.caller, user.openid);
  // Past the deadline the caller has its answer already: store nothing it will never use.
  // (ioredis takes no signal, so the check comes before each write.)
  ctx.signal.throwIfAborted();
  await deps.sessionKeys.keep(user.openid, request.appid, user.sessionKey);
  ctx.signal.throwIfAborted();
  const created = await deps.session.createSession(
    {
      appid: request.appid,
      openid: user.openid,
      unionid: user.unionid ?? '',
      attributes: request.attributes,
    },
    { signal: ctx.signal },
  );
  const session = created.session!;
  // The user is the one WeChat named: the caller may be anonymous (logging in makes one a user).
  const named = { appid: request.appid, openid: user.openid, unionid: user.unionid };
  await emitBestEffort(deps, userLoggedIn(named, session.sessionId, deps.now()), ctx.signal);
  return {
    sessionToken: created.sessionToken,
    sessionId: session.sessionId,
    openid: user.openid,
    unionid: user.unionid ?? '',
    expiresAt: session.expiresAt,
    maxExpiresAt: session.maxExpiresAt,
  };
}

/** jscode2session through the breaker, aborted at the deadline: a code not yet answered is given up, unspent. */
function redeemLoginCode(deps: AuthDeps, request: LoginRequest, signal: AbortSignal): Promise<CodeSession> {
  const appSecret = configuredAppSecret(deps, request.appid);
  const input = { appid: request.appid, appSecret, jsCode: request.jsCode };
  return answeringWeChatFailures(() => deps.wechat.call((api, s) => jscode2session(api, input, s), signal));
}
