/** WeChat errcodes that mean "the access_token the call used is no longer good". */
export const TOKEN_ERRCODES: ReadonlySet<number> = new Set([40001, 42001, 40014]);

/**
 * What a WeChat errcode means to the mesh, so callers classify failures by a name instead of by
 * errcode numbers or errmsg text:
 * - `token-invalid` (40001, 42001, 40014): the call's access_token is dead; refresh it, send again.
 * - `invalid-code` (40029), `code-used` (40163): a single-use code (wx.login, phone, OAuth) is bad.
 * - `refresh-token-invalid` (40030), `refresh-token-expired` (42002): a web OAuth refresh_token.
 * - `quota-exhausted` (45009, daily API quota), `too-frequent` (45011): rate limits that pass with time.
 * - `system-busy` (-1): WeChat's own transient failure.
 * - `user-blocked` (40226), `unknown-appid` (40013), `invalid-app-secret` (40125).
 * - Subscribe-message refusals: `no-subscription` (43101), `invalid-openid` (40003),
 *   `template-data-invalid` (47003), `unknown-template` (40037), `invalid-page` (41030).
 * - `other`: any errcode not listed; the errcode itself is still on the error.
 */
export type WeChatErrorKind =
  | 'token-invalid'
  | 'invalid-code'
  | 'code-used'
  | 'refresh-token-invalid'
  | 'refresh-token-expired'
  | 'quota-exhausted'
  | 'too-frequent'
  | 'system-busy'
  | 'user-blocked'
  | 'unknown-appid'
  | 'invalid-app-secret'
  | 'no-subscription'
  | 'invalid-openid'
  | 'template-data-invalid'
  | 'unknown-template'
  | 'invalid-page'
  | 'other';

const KIND_BY_ERRCODE: ReadonlyMap<number, WeChatErrorKind> = new Map([
  ...[...TOKEN_ERRCODES].map((errcode) => [errcode, 'token-invalid'] as const),
  [40029, 'invalid-code'],
  [40163, 'code-used'],
  [40030, 'refresh-token-invalid'],
  [42002, 'refresh-token-expired'],
  [45009, 'quota-exhausted'],
  [45011, 'too-frequent'],
  [-1, 'system-busy'],
  [40226, 'user-blocked'],
  [40013, 'unknown-appid'],
  [40125, 'invalid-app-secret'],
  [43101, 'no-subscription'],
  [40003, 'invalid-openid'],
  [47003, 'template-data-invalid'],
  [40037, 'unknown-template'],
  [41030, 'invalid-page'],
]);

/** The {@link WeChatErrorKind} of an errcode; `other` for one the mesh gives no meaning of its own. */
export function weChatErrorKind(errcode: number): WeChatErrorKind {
  return KIND_BY_ERRCODE.get(errcode) ?? 'other';
}

/**
 * WeChat answered with a non-zero errcode: the request was answered, so it says nothing about
 * WeChat's health (breakers do not count it). `kind` says what it means. The message carries the
 * API path and WeChat's own errmsg, never the query string (it holds the AppSecret or the
 * access_token).
 */
export class WeChatApiError extends Error {
  override readonly name = 'WeChatApiError';
  /** What the errcode means; see {@link WeChatErrorKind}. */
  readonly kind: WeChatErrorKind;
  constructor(
    readonly api: string,
    readonly errcode: number,
    readonly errmsg: string,
  ) {
    super(`WeChat ${api} answered errcode ${errcode}: ${errmsg}`);
    this.kind = weChatErrorKind(errcode);
  }

  /** The call's access_token was invalid or expired: refresh the token and retry once. */
  get isTokenError(): boolean {
    return this.kind === 'token-invalid';
  }
}

/**
 * WeChat could not be reached, answered with an HTTP error or with a body that is not the API's
 * answer: WeChat is unwell, not the request. Breakers count it; callers answer Unavailable.
 */
export class WeChatUnavailableError extends Error {
  override readonly name: string = 'WeChatUnavailableError';
  constructor(
    readonly api: string,
    detail: string,
  ) {
    super(`WeChat ${api} unavailable: ${detail}`);
  }
}

/**
 * WeChat answered errcode 0 (or none) with a body that does not match the API's documented
 * answer. It is a {@link WeChatUnavailableError}: an upstream that answers nonsense is unwell. The
 * message names the fields that failed and how, never their values (they can be secrets: a
 * session_key, an access_token).
 */
export class WeChatMalformedAnswerError extends WeChatUnavailableError {
  override readonly name = 'WeChatMalformedAnswerError';
  constructor(
    api: string,
    /** The failing fields as `path: problem`, without values. */
    readonly problems: readonly string[],
  ) {
    super(api, `malformed answer (${problems.join('; ')})`);
  }
}

/** The encrypted user data could not be decrypted or verified; `reason` says which step failed. */
export class UserDataError extends Error {
  override readonly name = 'UserDataError';
  constructor(
    readonly reason: 'malformed' | 'signature' | 'decrypt' | 'watermark',
    message: string,
  ) {
    super(message);
  }
}
