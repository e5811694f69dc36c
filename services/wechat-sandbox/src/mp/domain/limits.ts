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

/** The subscribe-message send API path. */
export const SEND_API = '/cgi-bin/message/subscribe/send';

/** An API quota key: one of {@link MP_APIS}, or `force_refresh` for stable_token's forced mode. */
export type QuotaKey = (typeof MP_APIS)[number] | 'force_refresh';

/** WeChat's quota day starts at midnight China Standard Time (UTC+8): the day number of `at`. */
export function quotaDay(at: number): number {
  return Math.floor((at + 8 * 3600 * SECOND) / DAY);
}

/** Seconds left until `expiresAt`, rounded up (a token issued a millisecond ago still has its 7200 s). */
export function secondsLeft(expiresAt: number, now: number): number {
  return Math.max(0, Math.ceil((expiresAt - now) / SECOND));
}

/** Unix seconds of a sandbox time (WeChat's watermarks and timestamps). */
export function unixSeconds(ms: number): number {
  return Math.floor(ms / SECOND);
}
