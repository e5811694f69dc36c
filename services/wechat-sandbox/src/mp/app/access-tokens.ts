import { WxError } from '../domain/errors.js';
import { MP_LIMITS } from '../domain/limits.js';
import type { AppState, MpState } from '../state/index.js';
import { authenticateApp } from './authenticate.js';

/** `/cgi-bin/token`: always a new token; the previous one keeps working for five minutes. */
export function accessToken(state: MpState, q: { appid?: string; secret?: string; grant_type?: string }) {
  if (q.grant_type !== 'client_credential') throw new WxError(40002);
  const app = authenticateApp(state, q.appid, q.secret, '/cgi-bin/token');
  state.tokens.supersede(app.token);
  app.token = state.tokens.issue(q.appid!);
  state.counters.count(q.appid!, 'accessTokensIssued');
  return { access_token: app.token, expires_in: state.tokens.expiresIn(app.token) };
}

/** The request body of `/cgi-bin/stable_token`, as parsed JSON. */
export interface StableTokenRequest {
  grant_type?: unknown;
  appid?: unknown;
  secret?: unknown;
  force_refresh?: unknown;
}

/**
 * stable_token's forced mode: charges the 20-a-day allowance; renews unless the previous forced
 * renewal was under 30 s ago and its token still lives. A renewal leaves the old token five minutes.
 */
function forcedRenewal(state: MpState, appid: string, app: AppState): boolean {
  state.quotas.consume(appid, 'force_refresh');
  state.counters.count(appid, 'forceRefreshes');
  const now = state.clock.now();
  const current = app.stable === undefined ? undefined : state.tokens.get(app.stable);
  const tooSoon =
    app.lastForceRefreshAt !== undefined &&
    now - app.lastForceRefreshAt < MP_LIMITS.forceRefreshIntervalMs &&
    current !== undefined &&
    now < current.expiresAt;
  if (tooSoon) return false;
  app.lastForceRefreshAt = now;
  state.tokens.supersede(app.stable);
  return true;
}

/** stable_token's normal mode: renew only when there is no token or it has five minutes or less left. */
function normalRenewal(state: MpState, app: AppState): boolean {
  const current = app.stable === undefined ? undefined : state.tokens.get(app.stable);
  return current === undefined || current.expiresAt - state.clock.now() <= MP_LIMITS.stableRenewBeforeMs;
}

/**
 * `/cgi-bin/stable_token`. Normal mode returns the current token while it has more than five
 * minutes left, else a new one (the old one runs out on its own). Forced mode issues a new token
 * (the old one keeps five minutes), at most 20 times a day, and within 30 s of the previous
 * forced call returns the current token unchanged, as documented.
 */
export function stableToken(state: MpState, b: StableTokenRequest) {
  if (b.force_refresh !== undefined && typeof b.force_refresh !== 'boolean') throw new WxError(47001);
  if (b.grant_type !== 'client_credential') throw new WxError(40002);
  const appid = typeof b.appid === 'string' ? b.appid : undefined;
  const secret = typeof b.secret === 'string' ? b.secret : undefined;
  const app = authenticateApp(state, appid, secret, '/cgi-bin/stable_token');
  const renew = b.force_refresh === true ? forcedRenewal(state, appid!, app) : normalRenewal(state, app);
  if (renew) {
    app.stable = state.tokens.issue(appid!);
    state.counters.count(appid!, 'stableTokensIssued');
  }
  return { access_token: app.stable!, expires_in: state.tokens.expiresIn(app.stable!) };
}

/**
 * Every access_token the app holds (both lines) answers 40001 from now on, as after another party
 * refreshed it; the next `/cgi-bin/token` or `/cgi-bin/stable_token` call issues a fresh one.
 * Returns how many live tokens were cut short.
 */
export function revokeTokens(state: MpState, appid: string): number {
  const revoked = state.tokens.revokeApp(appid);
  const app = state.apps.get(appid);
  if (app !== undefined) {
    app.token = undefined;
    app.stable = undefined;
  }
  return revoked;
}
