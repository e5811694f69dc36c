import type { Endpoint, SandboxRequest, SandboxResponse } from '../http.js';
import { controlHandler, fail, fields, registeredAppOf } from './control-request.js';
import { MP_APIS, type QuotaKey } from './domain/limits.js';
import type { MpStore } from './store.js';

const SESSION_KEY_BYTES = 16;

/** What the mini-program control handlers work on: the store and the random source for generated values. */
export interface MpControlDeps {
  readonly store: MpStore;
  readonly random: (size: number) => Buffer;
}

/** A generated code or id: `bytes` random bytes, base64url. */
function generated(deps: MpControlDeps, bytes: number): string {
  return deps.random(bytes).toString('base64url');
}

/** `POST /sandbox/mp/apps` `{appid, secret}`: registers an app (or changes its secret). */
function registerApp({ store }: MpControlDeps, req: SandboxRequest): SandboxResponse {
  const f = fields(req);
  store.registerApp({ appid: f.str('appid'), secret: f.str('secret') });
  return { status: 204 };
}

/** `POST /sandbox/mp/js-codes`: a wx.login code fixture; session_key and js_code generated when absent. */
function registerJsCode(deps: MpControlDeps, req: SandboxRequest): SandboxResponse {
  const f = fields(req);
  const session_key = f.optStr('session_key') ?? deps.random(SESSION_KEY_BYTES).toString('base64');
  if (Buffer.from(session_key, 'base64').length !== SESSION_KEY_BYTES || session_key.length !== 24) {
    fail('session_key: base64 of 16 bytes (24 characters) is required, as WeChat issues');
  }
  const unionid = f.optStr('unionid');
  const fixture = {
    appid: registeredAppOf(deps.store, f.str('appid')),
    js_code: f.optStr('js_code') ?? generated(deps, 24),
    openid: f.str('openid'),
    session_key,
    ...(unionid === undefined ? {} : { unionid }),
  };
  deps.store.registerJsCode(fixture);
  return { body: fixture };
}

/** `POST /sandbox/mp/phone-codes`: a getPhoneNumber code fixture; countryCode defaults to 86. */
function registerPhoneCode(deps: MpControlDeps, req: SandboxRequest): SandboxResponse {
  const f = fields(req);
  const purePhoneNumber = f.str('purePhoneNumber');
  const countryCode = f.optStr('countryCode') ?? '86';
  const fixture = {
    appid: registeredAppOf(deps.store, f.str('appid')),
    code: f.optStr('code') ?? generated(deps, 32),
    phoneNumber:
      f.optStr('phoneNumber') ??
      (countryCode === '86' ? purePhoneNumber : `+${countryCode}${purePhoneNumber}`),
    purePhoneNumber,
    countryCode,
  };
  deps.store.registerPhoneCode(fixture);
  return { body: fixture };
}

/** `POST /sandbox/mp/oauth-codes`: a web OAuth2 code fixture; scope defaults to snsapi_base. */
function registerOAuthCode(deps: MpControlDeps, req: SandboxRequest): SandboxResponse {
  const f = fields(req);
  const unionid = f.optStr('unionid');
  const snapshot = f.body.is_snapshotuser;
  if (snapshot !== undefined && snapshot !== 0 && snapshot !== 1) fail('is_snapshotuser: 0 or 1');
  const fixture = {
    appid: registeredAppOf(deps.store, f.str('appid')),
    code: f.optStr('code') ?? generated(deps, 24),
    openid: f.str('openid'),
    scope: f.optStr('scope') ?? 'snsapi_base',
    ...(unionid === undefined ? {} : { unionid }),
    ...(snapshot === undefined ? {} : { is_snapshotuser: snapshot as number }),
  };
  deps.store.registerOAuthCode(fixture);
  return { body: fixture };
}

/** `POST /sandbox/mp/quotas` `{appid, api, daily}`: an app's daily quota for one API (`null`: default). */
function setQuota({ store }: MpControlDeps, req: SandboxRequest): SandboxResponse {
  const f = fields(req);
  const api = f.str('api');
  if (api !== 'force_refresh' && !(MP_APIS as readonly string[]).includes(api)) {
    fail(`api: one of ${[...MP_APIS, 'force_refresh'].join(', ')}`);
  }
  const daily = f.body.daily === null ? undefined : f.int('daily', 0);
  store.setQuota(registeredAppOf(store, f.str('appid')), api as QuotaKey, daily);
  return { status: 204 };
}

/** `POST /sandbox/mp/tokens/revoke` `{appid}`: every token of the app answers 40001 from now on. */
function revokeTokens({ store }: MpControlDeps, req: SandboxRequest): SandboxResponse {
  return { body: { revoked: store.revokeTokens(registeredAppOf(store, fields(req).str('appid'))) } };
}

/** `GET /sandbox/mp/clock`, and what `POST` answers after advancing it. */
function showClock({ store }: MpControlDeps): SandboxResponse {
  return { body: { now: store.now(), offsetMs: store.offsetMs() } };
}

/** `POST /sandbox/mp/clock` `{advanceMs}`: moves the sandbox clock forward. */
function advanceClock(deps: MpControlDeps, req: SandboxRequest): SandboxResponse {
  deps.store.advance(fields(req).int('advanceMs', 0));
  return showClock(deps);
}

/** `POST /sandbox/mp/user-data`: user data sealed as the WeChat client hands it (409 without a session). */
function sealUserData({ store }: MpControlDeps, req: SandboxRequest): SandboxResponse {
  const f = fields(req);
  const data = f.body.data;
  if (typeof data !== 'object' || data === null || Array.isArray(data))
    fail('data: a JSON object is required');
  const appid = registeredAppOf(store, f.str('appid'));
  const openid = f.str('openid');
  const sealed = store.encryptUserData({
    appid,
    openid,
    data: data as Record<string, unknown>,
    watermarkAppid: f.optStr('watermarkAppid'),
  });
  if (sealed === undefined) {
    return {
      status: 409,
      body: { error: `openid: ${openid} has no session at ${appid}; exchange one of its js_codes first` },
    };
  }
  return { body: sealed };
}

/** `POST /sandbox/mp/jsapi/verify`: whether a JS-SDK signature holds under one of the app's live tickets. */
function verifyJsapi({ store }: MpControlDeps, req: SandboxRequest): SandboxResponse {
  const f = fields(req);
  const timestamp = f.body.timestamp;
  if (typeof timestamp !== 'string' && !Number.isSafeInteger(timestamp)) {
    fail('timestamp: the signed timestamp (string or integer) is required');
  }
  const valid = store.verifyJsapiSignature({
    appid: registeredAppOf(store, f.str('appid')),
    // The page signs (and WeChat checks) location.href without its #fragment.
    url: f.str('url').split('#')[0]!,
    noncestr: f.str('noncestr'),
    timestamp: String(timestamp),
    signature: f.str('signature'),
  });
  return { body: { valid } };
}

/**
 * The sandbox's control API for the mini-program side (JSON under `/sandbox/mp/`): apps, code
 * fixtures, quotas, token revocation, the clock, counters, reset, and the WeChat client's own parts
 * that tests need (encrypted user data, the JS-SDK signature check). Documented in the service
 * README. `reset` is what `POST /sandbox/mp/reset` runs (the whole mini-program side, not only the
 * store).
 */
export function createMpControlEndpoints(
  store: MpStore,
  random: (size: number) => Buffer,
  reset: () => void = store.reset,
): Endpoint[] {
  const deps: MpControlDeps = { store, random };
  const route = (
    method: Endpoint['method'],
    path: string,
    run: (d: MpControlDeps, req: SandboxRequest) => SandboxResponse,
  ): Endpoint => ({ method, path, handler: controlHandler((req) => run(deps, req)) });
  const noContent = (action: () => void) => (): SandboxResponse => {
    action();
    return { status: 204 };
  };
  return [
    route('POST', '/sandbox/mp/apps', registerApp),
    route('POST', '/sandbox/mp/js-codes', registerJsCode),
    route('POST', '/sandbox/mp/phone-codes', registerPhoneCode),
    route('POST', '/sandbox/mp/oauth-codes', registerOAuthCode),
    route('POST', '/sandbox/mp/quotas', setQuota),
    route('POST', '/sandbox/mp/tokens/revoke', revokeTokens),
    route('GET', '/sandbox/mp/clock', showClock),
    route('POST', '/sandbox/mp/clock', advanceClock),
    route('GET', '/sandbox/mp/counters', () => ({ body: store.counters() })),
    route('DELETE', '/sandbox/mp/counters', noContent(store.clearCounters)),
    route('POST', '/sandbox/mp/reset', noContent(reset)),
    route('POST', '/sandbox/mp/user-data', sealUserData),
    route('POST', '/sandbox/mp/jsapi/verify', verifyJsapi),
  ];
}
