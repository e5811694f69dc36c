import { AuthVerifyService } from '@wxmesh/contracts';
import { actingFor, defineService } from '@wxmesh/rpc';
import { getAccessToken, invalidateAccessToken } from './app/access-token.js';
import { decryptUserData } from './app/decrypt-user-data.js';
import type { AuthDeps } from './app/deps.js';
import { getPhoneNumber } from './app/get-phone-number.js';
import { login } from './app/login.js';
import { exchangeOAuthCode, refreshOAuthToken } from './app/oauth-grants.js';
import { signJsapi } from './app/sign-jsapi.js';

export type { AuthDeps, SessionPeer } from './app/deps.js';

/**
 * The auth-verify handlers: each maps its request to one use case in `app/`. WeChat calls go
 * through the gateway's breaker; calls that carry the central access_token retry once after a
 * refresh when WeChat says the token is dead. The session_key never leaves this service.
 *
 * Callers (the audiences are declared in the proto and enforced by the kit): a user may verify,
 * decrypt with and bind a phone through only their own session token; behind the cloud gateway a
 * Login must be for the gateway's user and mini-program.
 */
export function createAuthVerifyService(deps: AuthDeps) {
  return defineService(AuthVerifyService, {
    login: (request, ctx) => login(deps, request, ctx),
    async verifySession(request, ctx) {
      const answer = await deps.verifySession(request.sessionToken, request.touch, ctx.signal);
      if (ctx.caller.kind === 'user') actingFor(ctx, answer.openid, 'session_token');
      return answer;
    },
    decryptUserData: (request, ctx) => decryptUserData(deps, request, ctx),
    getPhoneNumber: (request, ctx) => getPhoneNumber(deps, request, ctx),
    exchangeOAuthCode: (request, ctx) => exchangeOAuthCode(deps, request, ctx),
    refreshOAuthToken: (request, ctx) => refreshOAuthToken(deps, request, ctx),
    signJsapi: (request) => signJsapi(deps, request),
    getAccessToken: (request) => getAccessToken(deps, request),
    invalidateAccessToken: (request, ctx) => invalidateAccessToken(deps, request, ctx),
  });
}
