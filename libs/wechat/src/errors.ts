/** WeChat errcodes that mean "the access_token the call used is no longer good". */
export const TOKEN_ERRCODES: ReadonlySet<number> = new Set([40001, 42001, 40014]);

/**
 * WeChat answered with a non-zero errcode. The message carries the API path and WeChat's own
 * errmsg, never the query string (it holds the AppSecret or the access_token).
 */
export class WeChatApiError extends Error {
  override readonly name = 'WeChatApiError';
  constructor(
    readonly api: string,
    readonly errcode: number,
    readonly errmsg: string,
  ) {
    super(`WeChat ${api} answered errcode ${errcode}: ${errmsg}`);
  }

  /** The call's access_token was invalid or expired: refresh the token and retry once. */
  get isTokenError(): boolean {
    return TOKEN_ERRCODES.has(this.errcode);
  }
}

/** WeChat could not be reached or answered with an HTTP error: WeChat is unwell, not the request. */
export class WeChatUnavailableError extends Error {
  override readonly name = 'WeChatUnavailableError';
  constructor(
    readonly api: string,
    detail: string,
  ) {
    super(`WeChat ${api} unavailable: ${detail}`);
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
