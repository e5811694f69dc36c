import type { Endpoint, SandboxRequest, SandboxResponse } from '../http.js';
import { jsonBody } from '../http.js';
import { MP_APIS, type MpStore, type QuotaKey } from './store.js';

/** A control request the sandbox refuses: HTTP 400 with a message naming the field. */
class BadRequest extends Error {}

/** Refuses a control request (400); `message` starts with the field's name. */
export function fail(message: string): never {
  throw new BadRequest(message);
}

/**
 * Reads typed fields from a control request's JSON body, failing (400) with the field's name. The
 * optional readers treat an absent field as undefined but refuse a present one of the wrong type.
 */
export function fields(req: SandboxRequest) {
  const body = jsonBody(req) ?? fail('body: a JSON object is required');
  const str = (name: string): string => {
    const value = body[name];
    return typeof value === 'string' && value.length > 0
      ? value
      : fail(`${name}: a non-empty string is required`);
  };
  const optStr = (name: string): string | undefined => (body[name] === undefined ? undefined : str(name));
  const int = (name: string, min: number): number => {
    const value = body[name];
    return Number.isSafeInteger(value) && (value as number) >= min
      ? (value as number)
      : fail(`${name}: an integer >= ${min} is required`);
  };
  const optInt = (name: string, min: number): number | undefined =>
    body[name] === undefined ? undefined : int(name, min);
  const optBool = (name: string): boolean | undefined => {
    const value = body[name];
    return value === undefined || typeof value === 'boolean' ? value : fail(`${name}: true or false`);
  };
  const oneOf = <T extends string>(name: string, values: readonly T[], fallback?: T): T => {
    const value = body[name] ?? fallback;
    return values.includes(value as T) ? (value as T) : fail(`${name}: one of ${values.join(', ')}`);
  };
  return { body, str, optStr, int, optInt, optBool, oneOf };
}

/** A control handler: BadRequest becomes HTTP 400 `{error}`; anything else propagates. */
export function controlHandler(run: (req: SandboxRequest) => SandboxResponse | Promise<SandboxResponse>) {
  return async (req: SandboxRequest): Promise<SandboxResponse> => {
    try {
      return await run(req);
    } catch (error) {
      if (error instanceof BadRequest) return { status: 400, body: { error: error.message } };
      throw error;
    }
  };
}

/** The appid when the store knows the app, else a 400 telling the caller to register it. */
export function registeredAppOf(store: MpStore, appid: string): string {
  return store.hasApp(appid) ? appid : fail(`appid: ${appid} is not registered; POST /sandbox/mp/apps first`);
}

const SESSION_KEY_BYTES = 16;

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
  const handle = controlHandler;
  const registeredApp = (appid: string) => registeredAppOf(store, appid);
  const generated = (bytes: number) => random(bytes).toString('base64url');

  return [
    {
      method: 'POST',
      path: '/sandbox/mp/apps',
      handler: handle((req) => {
        const f = fields(req);
        store.registerApp({ appid: f.str('appid'), secret: f.str('secret') });
        return { status: 204 };
      }),
    },
    {
      method: 'POST',
      path: '/sandbox/mp/js-codes',
      handler: handle((req) => {
        const f = fields(req);
        const session_key = f.optStr('session_key') ?? random(SESSION_KEY_BYTES).toString('base64');
        if (Buffer.from(session_key, 'base64').length !== SESSION_KEY_BYTES || session_key.length !== 24) {
          fail('session_key: base64 of 16 bytes (24 characters) is required, as WeChat issues');
        }
        const unionid = f.optStr('unionid');
        const fixture = {
          appid: registeredApp(f.str('appid')),
          js_code: f.optStr('js_code') ?? generated(24),
          openid: f.str('openid'),
          session_key,
          ...(unionid === undefined ? {} : { unionid }),
        };
        store.registerJsCode(fixture);
        return { body: fixture };
      }),
    },
    {
      method: 'POST',
      path: '/sandbox/mp/phone-codes',
      handler: handle((req) => {
        const f = fields(req);
        const purePhoneNumber = f.str('purePhoneNumber');
        const countryCode = f.optStr('countryCode') ?? '86';
        const fixture = {
          appid: registeredApp(f.str('appid')),
          code: f.optStr('code') ?? generated(32),
          phoneNumber:
            f.optStr('phoneNumber') ??
            (countryCode === '86' ? purePhoneNumber : `+${countryCode}${purePhoneNumber}`),
          purePhoneNumber,
          countryCode,
        };
        store.registerPhoneCode(fixture);
        return { body: fixture };
      }),
    },
    {
      method: 'POST',
      path: '/sandbox/mp/oauth-codes',
      handler: handle((req) => {
        const f = fields(req);
        const unionid = f.optStr('unionid');
        const snapshot = f.body.is_snapshotuser;
        if (snapshot !== undefined && snapshot !== 0 && snapshot !== 1) fail('is_snapshotuser: 0 or 1');
        const fixture = {
          appid: registeredApp(f.str('appid')),
          code: f.optStr('code') ?? generated(24),
          openid: f.str('openid'),
          scope: f.optStr('scope') ?? 'snsapi_base',
          ...(unionid === undefined ? {} : { unionid }),
          ...(snapshot === undefined ? {} : { is_snapshotuser: snapshot as number }),
        };
        store.registerOAuthCode(fixture);
        return { body: fixture };
      }),
    },
    {
      method: 'POST',
      path: '/sandbox/mp/quotas',
      handler: handle((req) => {
        const f = fields(req);
        const api = f.str('api');
        if (api !== 'force_refresh' && !(MP_APIS as readonly string[]).includes(api)) {
          fail(`api: one of ${[...MP_APIS, 'force_refresh'].join(', ')}`);
        }
        const daily = f.body.daily === null ? undefined : f.int('daily', 0);
        store.setQuota(registeredApp(f.str('appid')), api as QuotaKey, daily);
        return { status: 204 };
      }),
    },
    {
      method: 'POST',
      path: '/sandbox/mp/tokens/revoke',
      handler: handle((req) => ({
        body: { revoked: store.revokeTokens(registeredApp(fields(req).str('appid'))) },
      })),
    },
    {
      method: 'GET',
      path: '/sandbox/mp/clock',
      handler: () => ({ body: { now: store.now(), offsetMs: store.offsetMs() } }),
    },
    {
      method: 'POST',
      path: '/sandbox/mp/clock',
      handler: handle((req) => {
        store.advance(fields(req).int('advanceMs', 0));
        return { body: { now: store.now(), offsetMs: store.offsetMs() } };
      }),
    },
    {
      method: 'GET',
      path: '/sandbox/mp/counters',
      handler: () => ({ body: store.counters() }),
    },
    {
      method: 'DELETE',
      path: '/sandbox/mp/counters',
      handler: () => {
        store.clearCounters();
        return { status: 204 };
      },
    },
    {
      method: 'POST',
      path: '/sandbox/mp/reset',
      handler: () => {
        reset();
        return { status: 204 };
      },
    },
    {
      method: 'POST',
      path: '/sandbox/mp/user-data',
      handler: handle((req) => {
        const f = fields(req);
        const data = f.body.data;
        if (typeof data !== 'object' || data === null || Array.isArray(data))
          fail('data: a JSON object is required');
        const appid = registeredApp(f.str('appid'));
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
            body: {
              error: `openid: ${openid} has no session at ${appid}; exchange one of its js_codes first`,
            },
          };
        }
        return { body: sealed };
      }),
    },
    {
      method: 'POST',
      path: '/sandbox/mp/jsapi/verify',
      handler: handle((req) => {
        const f = fields(req);
        const timestamp = f.body.timestamp;
        if (typeof timestamp !== 'string' && !Number.isSafeInteger(timestamp)) {
          fail('timestamp: the signed timestamp (string or integer) is required');
        }
        const valid = store.verifyJsapiSignature({
          appid: registeredApp(f.str('appid')),
          // The page signs (and WeChat checks) location.href without its #fragment.
          url: f.str('url').split('#')[0]!,
          noncestr: f.str('noncestr'),
          timestamp: String(timestamp),
          signature: f.str('signature'),
        });
        return { body: { valid } };
      }),
    },
  ];
}
