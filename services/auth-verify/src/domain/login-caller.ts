import { Code, ConnectError } from '@connectrpc/connect';
import type { Caller } from '@wxmesh/rpc';

// Login is PUBLIC: the wx.login code is the credential. Behind the cloud gateway, though, the
// gateway also says which user of which mini-program is calling, and a login must not bind that
// caller's mini-program to a session of someone else's code (a code copied from another device).

/** The user the cloud gateway vouches for, when the call came through it. */
function gatewayUser(caller: Caller) {
  return caller.kind === 'user' && caller.via === 'gateway' ? caller.identity : undefined;
}

/**
 * Refuses a Login for another mini-program than the one the cloud gateway says is calling. Check
 * it before the js_code is exchanged: a refused login must not spend the user's code.
 */
export function assertLoginApp(caller: Caller, appid: string): void {
  const user = gatewayUser(caller);
  if (user?.appid === undefined || user.appid === appid) return;
  throw new ConnectError(
    `appid ${appid} is not the mini-program the cloud gateway says is calling (${user.appid}); ` +
      'log in with the calling mini-program’s own appid',
    Code.PermissionDenied,
  );
}

/**
 * Refuses a Login whose js_code WeChat says belongs to another user than the one the cloud gateway
 * says is calling. Check it right after jscode2session, before anything is stored.
 */
export function assertLoginUser(caller: Caller, openid: string): void {
  const user = gatewayUser(caller);
  if (user === undefined || user.openid === openid) return;
  throw new ConnectError(
    'the js_code belongs to another WeChat user than the one the cloud gateway says is calling; ' +
      'call wx.login on this device and log in with that code',
    Code.PermissionDenied,
  );
}
