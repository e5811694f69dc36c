import type { GetPhoneNumberRequest } from '@wxmesh/contracts';
import type { RpcContext } from '@wxmesh/rpc';
import { getUserPhoneNumber } from '@wxmesh/wechat';
import { answeringWeChatFailures } from '../adapters/wechat-gateway.js';
import { actedUnder, phoneNumberBound } from '../domain/behaviour-events.js';
import { withAccessToken } from './access-token.js';
import { callersSession } from './callers-session.js';
import type { AuthDeps } from './deps.js';
import { emitBestEffort } from './emit-event.js';

/**
 * GetPhoneNumber: redeems the caller's single-use phone code with the app's central access_token
 * (retried once with a fresh token when WeChat says it is dead) and emits `PhoneNumberBound` with
 * the country code only. The code is not presented once the deadline has passed.
 */
export async function getPhoneNumber(deps: AuthDeps, request: GetPhoneNumberRequest, ctx: RpcContext) {
  const session = await callersSession(deps, request.sessionToken, ctx);
  const phone = await answeringWeChatFailures(() =>
    withAccessToken(deps, session.appid, (accessToken) =>
      deps.wechat.call(
        (api, signal) => getUserPhoneNumber(api, { accessToken, code: request.code }, signal),
        ctx.signal,
      ),
    ),
  );
  const actor = actedUnder(ctx.wechat, session);
  await emitBestEffort(
    deps,
    phoneNumberBound(actor, request.code, phone.countryCode, deps.now()),
    ctx.signal,
  );
  return phone;
}
