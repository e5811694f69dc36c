import { createHmac } from 'node:crypto';
import { WxError } from '../domain/errors.js';
import type { MpState } from '../state/index.js';
import { appOfToken, takeGrantedCode, timingSafeStringEqual, type CodeGrant } from './authenticate.js';

/** `/sns/jscode2session`: the code's user, whose session_key becomes the current one. */
export function codeToSession(state: MpState, q: CodeGrant & { js_code?: string }) {
  const fixture = takeGrantedCode(state, q, q.js_code, state.jsCodes, '/sns/jscode2session');
  state.users.setSessionKey(fixture.appid, fixture.openid, fixture.session_key);
  state.counters.count(fixture.appid, 'sessionsIssued');
  return {
    session_key: fixture.session_key,
    openid: fixture.openid,
    ...(fixture.unionid === undefined ? {} : { unionid: fixture.unionid }),
  };
}

/** `/wxa/checksession`: is `signature` the HMAC-SHA256 of "" under the user's current session_key? */
export function checkSession(
  state: MpState,
  q: { access_token?: string; openid?: string; signature?: string; sig_method?: string },
) {
  const appid = appOfToken(state, q.access_token, '/wxa/checksession');
  const sessionKey = q.openid ? state.users.sessionKey(appid, q.openid) : undefined;
  if (q.sig_method !== 'hmac_sha256' || sessionKey === undefined || !q.signature) {
    throw new WxError(87009);
  }
  const expected = createHmac('sha256', sessionKey).update('').digest('hex');
  if (!timingSafeStringEqual(q.signature.toLowerCase(), expected)) throw new WxError(87009);
  return { errcode: 0, errmsg: 'ok' };
}
