import { createCipheriv, createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { Errcode } from './errors.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const DAY = 24 * 60 * MINUTE;

/** WeChat's documented lifetimes and limits, as the sandbox applies them. */
export const MP_LIMITS = {
  /** access_token, stable access_token, jsapi_ticket and web OAuth access_token lifetime. */
  tokenTtlMs: 7200 * SECOND,
  /** How long a replaced access_token (or jsapi_ticket) keeps working after its successor is issued. */
  overlapMs: 5 * MINUTE,
  /** wx.login codes, phone codes and OAuth codes expire this long after they are handed out. */
  codeTtlMs: 5 * MINUTE,
  /** Web OAuth refresh_token lifetime; WeChat does not rotate it on refresh. */
  refreshTokenTtlMs: 30 * DAY,
  /** stable_token, normal mode: a token with less than this left is renewed on the next call. */
  stableRenewBeforeMs: 5 * MINUTE,
  /** stable_token, force_refresh: calls closer together than this return the current token unchanged. */
  forceRefreshIntervalMs: 30 * SECOND,
  /** stable_token, force_refresh: documented daily allowance per app (then 45009). */
  forceRefreshDaily: 20,
  /** Default daily quota per app per API: generous, so only tests that set a quota meet 45009. */
  defaultDailyQuota: 1_000_000,
} as const;

/** The WeChat API paths of the mini-program side; quotas are set per app for each of them. */
export const MP_APIS = [
  '/sns/jscode2session',
  '/cgi-bin/token',
  '/cgi-bin/stable_token',
  '/wxa/business/getuserphonenumber',
  '/cgi-bin/ticket/getticket',
  '/sns/oauth2/access_token',
  '/sns/oauth2/refresh_token',
  '/wxa/checksession',
  '/cgi-bin/message/subscribe/send',
] as const;

/** An API quota key: one of {@link MP_APIS}, or `force_refresh` for stable_token's forced mode. */
export type QuotaKey = (typeof MP_APIS)[number] | 'force_refresh';

/** A registered mini-program / official account: what `/cgi-bin/token` and friends authenticate. */
export interface MpApp {
  readonly appid: string;
  readonly secret: string;
}

/** A wx.login code as `jscode2session` will resolve it. `session_key` is base64 of 16 bytes. */
export interface JsCodeFixture {
  readonly appid: string;
  readonly js_code: string;
  readonly openid: string;
  readonly session_key: string;
  readonly unionid?: string;
}

/** A getPhoneNumber code as `getuserphonenumber` will resolve it. */
export interface PhoneCodeFixture {
  readonly appid: string;
  readonly code: string;
  readonly phoneNumber: string;
  readonly purePhoneNumber: string;
  readonly countryCode: string;
}

/** A web OAuth2 code as `/sns/oauth2/access_token` will resolve it. */
export interface OAuthCodeFixture {
  readonly appid: string;
  readonly code: string;
  readonly openid: string;
  readonly scope: string;
  readonly unionid?: string;
  readonly is_snapshotuser?: number;
}

/** What the sandbox has issued per app, for tests that assert "exactly one fetch". */
export interface MpCounters {
  /** `/cgi-bin/token` answers (each one is a new token). */
  accessTokensIssued: number;
  /** New stable tokens (normal-mode answers that returned the current token are not counted). */
  stableTokensIssued: number;
  /** stable_token calls with force_refresh=true that were accepted (counted against the 20 a day). */
  forceRefreshes: number;
  jsapiTicketsIssued: number;
  /** Successful jscode2session answers. */
  sessionsIssued: number;
  /** Successful getuserphonenumber answers. */
  phoneNumbersIssued: number;
  /** Successful `/sns/oauth2/access_token` answers. */
  oauthTokensIssued: number;
  /** Successful `/sns/oauth2/refresh_token` answers. */
  oauthRefreshes: number;
}

/**
 * A WeChat-level failure: the endpoint answers it as `{errcode, errmsg}`; `detail`, when set, is the
 * errmsg text naming the culprit (see createErrorReply).
 */
export class WxError extends Error {
  constructor(
    readonly errcode: Errcode,
    readonly detail?: string,
  ) {
    super(`WeChat errcode ${errcode}`);
  }
}

interface CredentialRecord {
  readonly appid: string;
  expiresAt: number;
  /** True once a successor cut its life short: it then fails with 40001 ("not latest"), not 42001. */
  superseded: boolean;
}

interface AppState {
  secret: string;
  token?: string;
  stable?: string;
  ticket?: string;
  lastForceRefreshAt?: number;
}

interface CodeEntry<F> {
  readonly fixture: F;
  readonly registeredAt: number;
  used: boolean;
}

interface RefreshRecord {
  readonly appid: string;
  readonly openid: string;
  readonly scope: string;
  readonly expiresAt: number;
}

function emptyCounters(): MpCounters {
  return {
    accessTokensIssued: 0,
    stableTokensIssued: 0,
    forceRefreshes: 0,
    jsapiTicketsIssued: 0,
    sessionsIssued: 0,
    phoneNumbersIssued: 0,
    oauthTokensIssued: 0,
    oauthRefreshes: 0,
  };
}

/** WeChat's quota day starts at midnight China Standard Time (UTC+8). */
function quotaDay(at: number): number {
  return Math.floor((at + 8 * 3600 * SECOND) / DAY);
}

/** A well-formed access_token: what WeChat answers 40001 for when unknown, rather than 40014. */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{32,512}$/;

/**
 * The mini-program side's state and rules, without HTTP: apps, single-use code fixtures, access
 * tokens with their overlap windows, stable tokens, tickets, OAuth tokens, per-user session keys,
 * daily quotas and counters. Time is `now()` plus an offset tests can advance; every random value
 * comes from `random`.
 */
export function createMpStore(deps: {
  now: () => number;
  random: (size: number) => Buffer;
  apps: readonly MpApp[];
}) {
  const { random } = deps;
  let offsetMs = 0;
  const clock = () => deps.now() + offsetMs;

  let apps = new Map<string, AppState>();
  let tokens = new Map<string, CredentialRecord>(); // access tokens of both lines
  let tickets = new Map<string, CredentialRecord>();
  let jsCodes = new Map<string, CodeEntry<JsCodeFixture>>();
  let phoneCodes = new Map<string, CodeEntry<PhoneCodeFixture>>();
  let oauthCodes = new Map<string, CodeEntry<OAuthCodeFixture>>();
  let sessionKeys = new Map<string, string>();
  let refreshTokens = new Map<string, RefreshRecord>();
  let quotas = new Map<string, number>();
  let usage = new Map<string, { day: number; used: number }>();
  let counters = new Map<string, MpCounters>();
  let users = new Set<string>(); // key(appid, openid) of every user a fixture named

  const key = (...parts: string[]) => parts.join('\0');
  const secretString = (bytes: number) => random(bytes).toString('base64url');

  function reset(): void {
    offsetMs = 0;
    apps = new Map(deps.apps.map((a) => [a.appid, { secret: a.secret }]));
    tokens = new Map();
    tickets = new Map();
    jsCodes = new Map();
    phoneCodes = new Map();
    oauthCodes = new Map();
    sessionKeys = new Map();
    refreshTokens = new Map();
    quotas = new Map();
    usage = new Map();
    counters = new Map();
    users = new Set();
  }
  reset();

  function count(appid: string, counter: keyof MpCounters): void {
    let c = counters.get(appid);
    if (c === undefined) counters.set(appid, (c = emptyCounters()));
    c[counter]++;
  }

  function consumeQuota(appid: string, api: QuotaKey): void {
    const limit =
      quotas.get(key(appid, api)) ??
      (api === 'force_refresh' ? MP_LIMITS.forceRefreshDaily : MP_LIMITS.defaultDailyQuota);
    const today = quotaDay(clock());
    const k = key(appid, api);
    let entry = usage.get(k);
    if (entry === undefined || entry.day !== today) usage.set(k, (entry = { day: today, used: 0 }));
    if (entry.used >= limit) throw new WxError(45009);
    entry.used++;
  }

  /** Checks appid and secret the way the credential APIs do, then charges the API's quota. */
  function authenticate(appid: string | undefined, secret: string | undefined, api: QuotaKey): AppState {
    if (!appid) throw new WxError(41002);
    if (!secret) throw new WxError(41004);
    const app = apps.get(appid);
    if (app === undefined) throw new WxError(40013);
    if (!timingSafeStringEqual(secret, app.secret)) throw new WxError(40125);
    consumeQuota(appid, api);
    return app;
  }

  /** Resolves an `access_token` query parameter to its app (40014 / 40001 / 42001 / 41001), charging quota. */
  function appOfToken(token: string | undefined, api: QuotaKey): string {
    if (!token) throw new WxError(41001);
    const record = tokens.get(token);
    if (record === undefined) throw new WxError(TOKEN_SHAPE.test(token) ? 40001 : 40014);
    if (clock() >= record.expiresAt) throw new WxError(record.superseded ? 40001 : 42001);
    consumeQuota(record.appid, api);
    return record.appid;
  }

  function issue(table: Map<string, CredentialRecord>, appid: string): string {
    const value = `90_${secretString(96)}`;
    table.set(value, { appid, expiresAt: clock() + MP_LIMITS.tokenTtlMs, superseded: false });
    return value;
  }

  /** Gives a replaced token or ticket at most {@link MP_LIMITS.overlapMs} more life. */
  function supersede(table: Map<string, CredentialRecord>, value: string | undefined): void {
    const record = value === undefined ? undefined : table.get(value);
    if (record === undefined) return;
    const cap = clock() + MP_LIMITS.overlapMs;
    if (cap < record.expiresAt) {
      record.expiresAt = cap;
      record.superseded = true;
    }
  }

  // Rounded up: a token issued a millisecond ago still has its whole 7200 s, as WeChat reports it.
  const expiresIn = (table: Map<string, CredentialRecord>, value: string) =>
    Math.max(0, Math.ceil((table.get(value)!.expiresAt - clock()) / SECOND));

  function takeCode<F>(
    table: Map<string, CodeEntry<F>>,
    appid: string,
    code: string | undefined,
    reused: Errcode,
  ): CodeEntry<F> {
    if (!code) throw new WxError(41008);
    const entry = table.get(key(appid, code));
    if (entry === undefined) throw new WxError(40029);
    if (entry.used) throw new WxError(reused);
    if (clock() >= entry.registeredAt + MP_LIMITS.codeTtlMs) throw new WxError(40029);
    entry.used = true;
    return entry;
  }

  return {
    /** The sandbox's current time (the injected clock plus the offset). */
    now: clock,
    offsetMs: () => offsetMs,
    /** Moves the sandbox's clock forward; tokens, codes and quotas see the new time at once. */
    advance(ms: number): void {
      offsetMs += ms;
    },
    /** Back to the start: configured apps only, no fixtures, tokens, quotas or counters, offset 0. */
    reset,

    registerApp(app: MpApp): void {
      const existing = apps.get(app.appid);
      if (existing) existing.secret = app.secret;
      else apps.set(app.appid, { secret: app.secret });
    },
    hasApp: (appid: string) => apps.has(appid),

    /** Makes `openid` a user of the app (APIs addressing a user refuse unknown ones). */
    registerUser(appid: string, openid: string): void {
      users.add(key(appid, openid));
    },
    knowsUser: (appid: string, openid: string) => users.has(key(appid, openid)),

    registerJsCode(fixture: JsCodeFixture): void {
      users.add(key(fixture.appid, fixture.openid));
      jsCodes.set(key(fixture.appid, fixture.js_code), { fixture, registeredAt: clock(), used: false });
    },
    registerPhoneCode(fixture: PhoneCodeFixture): void {
      phoneCodes.set(key(fixture.appid, fixture.code), { fixture, registeredAt: clock(), used: false });
    },
    registerOAuthCode(fixture: OAuthCodeFixture): void {
      oauthCodes.set(key(fixture.appid, fixture.code), { fixture, registeredAt: clock(), used: false });
    },

    /** Sets an app's daily quota for one API; `undefined` restores the default. */
    setQuota(appid: string, api: QuotaKey, daily: number | undefined): void {
      if (daily === undefined) quotas.delete(key(appid, api));
      else quotas.set(key(appid, api), daily);
    },

    /**
     * The app an `access_token` belongs to, for APIs served outside the store: 41001 / 40014 / 40001 /
     * 42001 as WeChat answers them, then the API's daily quota is charged (45009 past it).
     */
    appOfToken,
    /** The app that was issued `token`, whatever its state now (to attribute refused calls); else undefined. */
    tokenOwner: (token: string | undefined) => (token ? tokens.get(token)?.appid : undefined),

    /**
     * Every access_token the app holds (both lines) answers 40001 from now on, as after another party
     * refreshed it; the next `/cgi-bin/token` or `/cgi-bin/stable_token` call issues a fresh one.
     * Returns how many live tokens were cut short.
     */
    revokeTokens(appid: string): number {
      const now = clock();
      let revoked = 0;
      for (const record of tokens.values()) {
        if (record.appid !== appid || now >= record.expiresAt) continue;
        record.expiresAt = now;
        record.superseded = true;
        revoked++;
      }
      const app = apps.get(appid);
      if (app !== undefined) {
        app.token = undefined;
        app.stable = undefined;
      }
      return revoked;
    },

    counters: () => Object.fromEntries([...counters].map(([appid, c]) => [appid, { ...c }])),
    clearCounters: () => counters.clear(),

    /** `/sns/jscode2session`: the code's user, whose session_key becomes the current one. */
    codeToSession(q: { appid?: string; secret?: string; js_code?: string; grant_type?: string }) {
      if (q.grant_type !== 'authorization_code') throw new WxError(40002);
      authenticate(q.appid, q.secret, '/sns/jscode2session');
      const { fixture } = takeCode(jsCodes, q.appid!, q.js_code, 40163);
      sessionKeys.set(key(fixture.appid, fixture.openid), fixture.session_key);
      count(fixture.appid, 'sessionsIssued');
      return {
        session_key: fixture.session_key,
        openid: fixture.openid,
        ...(fixture.unionid === undefined ? {} : { unionid: fixture.unionid }),
      };
    },

    /** `/cgi-bin/token`: always a new token; the previous one keeps working for five minutes. */
    accessToken(q: { appid?: string; secret?: string; grant_type?: string }) {
      if (q.grant_type !== 'client_credential') throw new WxError(40002);
      const app = authenticate(q.appid, q.secret, '/cgi-bin/token');
      supersede(tokens, app.token);
      app.token = issue(tokens, q.appid!);
      count(q.appid!, 'accessTokensIssued');
      return { access_token: app.token, expires_in: expiresIn(tokens, app.token) };
    },

    /**
     * `/cgi-bin/stable_token`. Normal mode returns the current token while it has more than five
     * minutes left, else a new one (the old one runs out on its own). Forced mode issues a new token
     * (the old one keeps five minutes), at most 20 times a day, and within 30 s of the previous
     * forced call returns the current token unchanged, as documented.
     */
    stableToken(b: { grant_type?: unknown; appid?: unknown; secret?: unknown; force_refresh?: unknown }) {
      if (b.force_refresh !== undefined && typeof b.force_refresh !== 'boolean') throw new WxError(47001);
      if (b.grant_type !== 'client_credential') throw new WxError(40002);
      const appid = typeof b.appid === 'string' ? b.appid : undefined;
      const secret = typeof b.secret === 'string' ? b.secret : undefined;
      const app = authenticate(appid, secret, '/cgi-bin/stable_token');
      const now = clock();
      const current = app.stable === undefined ? undefined : tokens.get(app.stable);
      let renew: boolean;
      if (b.force_refresh === true) {
        consumeQuota(appid!, 'force_refresh');
        count(appid!, 'forceRefreshes');
        const tooSoon =
          app.lastForceRefreshAt !== undefined &&
          now - app.lastForceRefreshAt < MP_LIMITS.forceRefreshIntervalMs &&
          current !== undefined &&
          now < current.expiresAt;
        renew = !tooSoon;
        if (renew) {
          app.lastForceRefreshAt = now;
          supersede(tokens, app.stable);
        }
      } else {
        renew = current === undefined || current.expiresAt - now <= MP_LIMITS.stableRenewBeforeMs;
      }
      if (renew) {
        app.stable = issue(tokens, appid!);
        count(appid!, 'stableTokensIssued');
      }
      return { access_token: app.stable!, expires_in: expiresIn(tokens, app.stable!) };
    },

    /**
     * `/wxa/business/getuserphonenumber`: the code's phone number, once. The body is read only after
     * the token passed (`readCode`), so a bad token wins over a bad body, as at WeChat.
     */
    phoneNumber(accessToken: string | undefined, readCode: () => string | undefined) {
      const appid = appOfToken(accessToken, '/wxa/business/getuserphonenumber');
      const { fixture, registeredAt } = takeCode(phoneCodes, appid, readCode(), 40029);
      count(appid, 'phoneNumbersIssued');
      return {
        errcode: 0,
        errmsg: 'ok',
        phone_info: {
          phoneNumber: fixture.phoneNumber,
          purePhoneNumber: fixture.purePhoneNumber,
          countryCode: fixture.countryCode,
          watermark: { timestamp: Math.floor(registeredAt / SECOND), appid },
        },
      };
    },

    /** `/cgi-bin/ticket/getticket?type=jsapi`: a new ticket each call; the previous one keeps five minutes. */
    jsapiTicket(accessToken: string | undefined, type: string | undefined) {
      const appid = appOfToken(accessToken, '/cgi-bin/ticket/getticket');
      if (type !== 'jsapi') throw new WxError(40097);
      const app = apps.get(appid)!;
      supersede(tickets, app.ticket);
      app.ticket = issue(tickets, appid);
      count(appid, 'jsapiTicketsIssued');
      return { errcode: 0, errmsg: 'ok', ticket: app.ticket, expires_in: expiresIn(tickets, app.ticket) };
    },

    /** Whether `signature` is a valid JS-SDK signature for `url` under one of the app's live tickets. */
    verifyJsapiSignature(p: {
      appid: string;
      url: string;
      noncestr: string;
      timestamp: string;
      signature: string;
    }) {
      const now = clock();
      for (const [ticket, record] of tickets) {
        if (record.appid !== p.appid || now >= record.expiresAt) continue;
        const plain = `jsapi_ticket=${ticket}&noncestr=${p.noncestr}&timestamp=${p.timestamp}&url=${p.url}`;
        if (createHash('sha1').update(plain).digest('hex') === p.signature.toLowerCase()) return true;
      }
      return false;
    },

    /** `/sns/oauth2/access_token`: the code's user, an access_token and a 30-day refresh_token. */
    oauthAccessToken(q: { appid?: string; secret?: string; code?: string; grant_type?: string }) {
      if (q.grant_type !== 'authorization_code') throw new WxError(40002);
      authenticate(q.appid, q.secret, '/sns/oauth2/access_token');
      const { fixture } = takeCode(oauthCodes, q.appid!, q.code, 40163);
      const now = clock();
      const accessToken = secretString(96);
      const refreshToken = secretString(96);
      refreshTokens.set(refreshToken, {
        appid: fixture.appid,
        openid: fixture.openid,
        scope: fixture.scope,
        expiresAt: now + MP_LIMITS.refreshTokenTtlMs,
      });
      count(fixture.appid, 'oauthTokensIssued');
      return {
        access_token: accessToken,
        expires_in: MP_LIMITS.tokenTtlMs / SECOND,
        refresh_token: refreshToken,
        openid: fixture.openid,
        scope: fixture.scope,
        ...(fixture.is_snapshotuser === undefined ? {} : { is_snapshotuser: fixture.is_snapshotuser }),
        ...(fixture.unionid === undefined ? {} : { unionid: fixture.unionid }),
      };
    },

    /** `/sns/oauth2/refresh_token`: a new access_token; the refresh_token is returned unchanged. */
    oauthRefresh(q: { appid?: string; grant_type?: string; refresh_token?: string }) {
      if (q.grant_type !== 'refresh_token') throw new WxError(40002);
      if (!q.appid) throw new WxError(41002);
      if (!apps.has(q.appid)) throw new WxError(40013);
      if (!q.refresh_token) throw new WxError(41003);
      const record = refreshTokens.get(q.refresh_token);
      if (record === undefined || record.appid !== q.appid) throw new WxError(40030);
      const now = clock();
      if (now >= record.expiresAt) throw new WxError(42002);
      consumeQuota(q.appid, '/sns/oauth2/refresh_token');
      const accessToken = secretString(96);
      count(q.appid, 'oauthRefreshes');
      return {
        access_token: accessToken,
        expires_in: MP_LIMITS.tokenTtlMs / SECOND,
        refresh_token: q.refresh_token,
        openid: record.openid,
        scope: record.scope,
      };
    },

    /** `/wxa/checksession`: is `signature` the HMAC-SHA256 of "" under the user's current session_key? */
    checkSession(q: { access_token?: string; openid?: string; signature?: string; sig_method?: string }) {
      const appid = appOfToken(q.access_token, '/wxa/checksession');
      const sessionKey = q.openid ? sessionKeys.get(key(appid, q.openid)) : undefined;
      if (q.sig_method !== 'hmac_sha256' || sessionKey === undefined || !q.signature) {
        throw new WxError(87009);
      }
      const expected = createHmac('sha256', sessionKey).update('').digest('hex');
      if (!timingSafeStringEqual(q.signature.toLowerCase(), expected)) throw new WxError(87009);
      return { errcode: 0, errmsg: 'ok' };
    },

    /**
     * What the WeChat client hands a mini-program from wx.getUserInfo and friends: `data` plus a
     * watermark, encrypted with AES-128-CBC under the user's current session_key, with `rawData` and
     * its `signature` (sha1(rawData + session_key)). Undefined when the user has no session.
     */
    encryptUserData(p: {
      appid: string;
      openid: string;
      data: Record<string, unknown>;
      watermarkAppid?: string;
    }) {
      const sessionKey = sessionKeys.get(key(p.appid, p.openid));
      if (sessionKey === undefined) return undefined;
      const rawData = JSON.stringify(p.data);
      const iv = random(16);
      const plain = JSON.stringify({
        ...p.data,
        watermark: { timestamp: Math.floor(clock() / SECOND), appid: p.watermarkAppid ?? p.appid },
      });
      const cipher = createCipheriv('aes-128-cbc', Buffer.from(sessionKey, 'base64'), iv);
      const encrypted = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return {
        encryptedData: encrypted.toString('base64'),
        iv: iv.toString('base64'),
        rawData,
        signature: createHash('sha1')
          .update(rawData + sessionKey)
          .digest('hex'),
      };
    },
  };
}

/** The store's type, for the HTTP layers built on it. */
export type MpStore = ReturnType<typeof createMpStore>;

function timingSafeStringEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
