import { WxError } from '../domain/errors.js';
import { MP_LIMITS } from '../domain/limits.js';
import type { MpState } from '../state/index.js';
import { takeGrantedCode, type CodeGrant } from './authenticate.js';

/** A web OAuth access_token's `expires_in` (seconds): WeChat's full lifetime. */
const OAUTH_EXPIRES_IN = MP_LIMITS.tokenTtlMs / 1000;

/** `/sns/oauth2/access_token`: the code's user, an access_token and a 30-day refresh_token. */
export function oauthAccessToken(state: MpState, q: CodeGrant & { code?: string }) {
  const fixture = takeGrantedCode(state, q, q.code, state.oauthCodes, '/sns/oauth2/access_token');
  const now = state.clock.now();
  const accessToken = state.random(96).toString('base64url');
  const refreshToken = state.random(96).toString('base64url');
  state.refreshTokens.set(refreshToken, {
    appid: fixture.appid,
    openid: fixture.openid,
    scope: fixture.scope,
    expiresAt: now + MP_LIMITS.refreshTokenTtlMs,
  });
  state.counters.count(fixture.appid, 'oauthTokensIssued');
  return {
    access_token: accessToken,
    expires_in: OAUTH_EXPIRES_IN,
    refresh_token: refreshToken,
    openid: fixture.openid,
    scope: fixture.scope,
    ...(fixture.is_snapshotuser === undefined ? {} : { is_snapshotuser: fixture.is_snapshotuser }),
    ...(fixture.unionid === undefined ? {} : { unionid: fixture.unionid }),
  };
}

/** `/sns/oauth2/refresh_token`: a new access_token; the refresh_token is returned unchanged. */
export function oauthRefresh(
  state: MpState,
  q: { appid?: string; grant_type?: string; refresh_token?: string },
) {
  if (q.grant_type !== 'refresh_token') throw new WxError(40002);
  if (!q.appid) throw new WxError(41002);
  if (!state.apps.has(q.appid)) throw new WxError(40013);
  if (!q.refresh_token) throw new WxError(41003);
  const record = state.refreshTokens.get(q.refresh_token);
  if (record === undefined || record.appid !== q.appid) throw new WxError(40030);
  if (state.clock.now() >= record.expiresAt) throw new WxError(42002);
  state.quotas.consume(q.appid, '/sns/oauth2/refresh_token');
  const accessToken = state.random(96).toString('base64url');
  state.counters.count(q.appid, 'oauthRefreshes');
  return {
    access_token: accessToken,
    expires_in: OAUTH_EXPIRES_IN,
    refresh_token: q.refresh_token,
    openid: record.openid,
    scope: record.scope,
  };
}
