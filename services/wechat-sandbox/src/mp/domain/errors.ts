import type { SandboxResponse } from '../../http.js';

/**
 * The WeChat errcodes the mini-program side answers with, and their errmsg as WeChat spells it
 * (global return codes of the Official Account / Mini Program APIs).
 */
export const ERRMSG = {
  40001: 'invalid credential, access_token is invalid or not latest',
  40002: 'invalid grant_type',
  40003: 'invalid openid',
  40013: 'invalid appid',
  40014: 'invalid access_token',
  40029: 'invalid code',
  40030: 'invalid refresh_token',
  40037: 'invalid template_id',
  40097: 'invalid args',
  40125: 'invalid appsecret',
  40163: 'code been used',
  41001: 'access_token missing',
  41002: 'appid missing',
  41003: 'refresh_token missing',
  41004: 'appsecret missing',
  41008: 'missing code',
  42001: 'access_token expired',
  42002: 'refresh_token expired',
  43002: 'require POST method',
  43101: 'user refuse to accept the msg',
  44002: 'empty post data',
  45009: 'reach max api daily quota limit',
  47001: 'data format error',
  47003: 'argument invalid!',
  87009: 'invalid signature',
} as const;

/** An errcode the sandbox answers with. */
export type Errcode = keyof typeof ERRMSG;

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

/** Whether `code` is one of the errcodes the sandbox knows WeChat's text for. */
export function isErrcode(code: number): code is Errcode {
  return Object.hasOwn(ERRMSG, code);
}

/**
 * Builds WeChat's error answer: HTTP 200 with `{errcode, errmsg}`, the errmsg ending in a request id
 * (`, rid: xxxxxxxx-xxxxxxxx-xxxxxxxx`) as WeChat's do, so clients cannot match on the text. `detail`
 * replaces the errcode's usual text where WeChat names the culprit (47003's
 * `argument invalid! data.thing1.value invalid`).
 */
export function createErrorReply(random: (size: number) => Buffer) {
  return (errcode: Errcode, detail?: string): SandboxResponse => {
    const rid = [4, 4, 4].map((n) => random(n).toString('hex')).join('-');
    return { body: { errcode, errmsg: `${detail ?? ERRMSG[errcode]}, rid: ${rid}` } };
  };
}

/** The error answer builder {@link createErrorReply} returns. */
export type ErrorReply = ReturnType<typeof createErrorReply>;
