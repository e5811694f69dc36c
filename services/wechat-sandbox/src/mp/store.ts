import { accessToken, revokeTokens, stableToken, type StableTokenRequest } from './app/access-tokens.js';
import { appOfToken, tokenOwner } from './app/authenticate.js';
import { registerJsCode, registerOAuthCode, registerPhoneCode } from './app/fixtures.js';
import { jsapiTicket, verifyJsapiSignature, type JsapiSignature } from './app/jsapi-ticket.js';
import { checkSession, codeToSession } from './app/login.js';
import { oauthAccessToken, oauthRefresh } from './app/oauth.js';
import { phoneNumber } from './app/phone-number.js';
import { encryptUserData, type UserDataRequest } from './app/user-data.js';
import type { JsCodeFixture, MpApp, OAuthCodeFixture, PhoneCodeFixture } from './domain/fixtures.js';
import type { QuotaKey } from './domain/limits.js';
import { createMpState } from './state/index.js';

type Query<K extends string> = { [P in K]?: string };

/**
 * The mini-program side's state and rules, without HTTP, as the endpoints use them: each method
 * runs one use case of `mp/app/` on the explicit state of `mp/state/` (apps, single-use code
 * fixtures, access tokens with their overlap windows, stable tokens, tickets, OAuth tokens,
 * per-user session keys, daily quotas and counters). Time is `now()` plus an offset tests can
 * advance; every random value comes from `random`.
 */
export function createMpStore(deps: {
  now: () => number;
  random: (size: number) => Buffer;
  apps: readonly MpApp[];
}) {
  const state = createMpState(deps);
  const { clock } = state;
  return {
    /** The sandbox's current time (the injected clock plus the offset). */
    now: clock.now,
    offsetMs: clock.offsetMs,
    /** Moves the sandbox's clock forward; tokens, codes and quotas see the new time at once. */
    advance: clock.advance,
    /** Back to the start: configured apps only, no fixtures, tokens, quotas or counters, offset 0. */
    reset: state.reset,

    registerApp: (app: MpApp) => state.apps.register(app),
    hasApp: (appid: string) => state.apps.has(appid),
    /** Makes `openid` a user of the app (APIs addressing a user refuse unknown ones). */
    registerUser: (appid: string, openid: string) => state.users.register(appid, openid),
    knowsUser: (appid: string, openid: string) => state.users.knows(appid, openid),
    registerJsCode: (fixture: JsCodeFixture) => registerJsCode(state, fixture),
    registerPhoneCode: (fixture: PhoneCodeFixture) => registerPhoneCode(state, fixture),
    registerOAuthCode: (fixture: OAuthCodeFixture) => registerOAuthCode(state, fixture),
    /** Sets an app's daily quota for one API; `undefined` restores the default. */
    setQuota: (appid: string, api: QuotaKey, daily: number | undefined) =>
      state.quotas.set(appid, api, daily),

    /** See {@link appOfToken}: for APIs served outside the store (subscribe-message send). */
    appOfToken: (token: string | undefined, api: QuotaKey) => appOfToken(state, token, api),
    tokenOwner: (token: string | undefined) => tokenOwner(state, token),
    revokeTokens: (appid: string) => revokeTokens(state, appid),
    counters: state.counters.snapshot,
    clearCounters: state.counters.reset,

    codeToSession: (q: Query<'appid' | 'secret' | 'js_code' | 'grant_type'>) => codeToSession(state, q),
    accessToken: (q: Query<'appid' | 'secret' | 'grant_type'>) => accessToken(state, q),
    stableToken: (body: StableTokenRequest) => stableToken(state, body),
    phoneNumber: (token: string | undefined, readCode: () => string | undefined) =>
      phoneNumber(state, token, readCode),
    jsapiTicket: (token: string | undefined, type: string | undefined) => jsapiTicket(state, token, type),
    verifyJsapiSignature: (signature: JsapiSignature) => verifyJsapiSignature(state, signature),
    oauthAccessToken: (q: Query<'appid' | 'secret' | 'code' | 'grant_type'>) => oauthAccessToken(state, q),
    oauthRefresh: (q: Query<'appid' | 'grant_type' | 'refresh_token'>) => oauthRefresh(state, q),
    checkSession: (q: Query<'access_token' | 'openid' | 'signature' | 'sig_method'>) =>
      checkSession(state, q),
    encryptUserData: (request: UserDataRequest) => encryptUserData(state, request),
  };
}

/** The store's type, for the HTTP layers built on it. */
export type MpStore = ReturnType<typeof createMpStore>;
