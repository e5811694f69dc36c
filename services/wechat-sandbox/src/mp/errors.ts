import type { SandboxResponse } from '../http.js';

/**
 * The WeChat errcodes the mini-program side answers with, and their errmsg as WeChat spells it
 * (global return codes of the Official Account / Mini Program APIs).
 */
export const ERRMSG = {
  40001: 'invalid credential, access_token is invalid or not latest',
  40002: 'invalid grant_type',
  40013: 'invalid appid',
  40014: 'invalid access_token',
  40029: 'invalid code',
  40030: 'invalid refresh_token',
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
  44002: 'empty post data',
  45009: 'reach max api daily quota limit',
  47001: 'data format error',
  87009: 'invalid signature',
} as const;

/** An errcode the sandbox answers with. */
export type Errcode = keyof typeof ERRMSG;

/**
 * Builds WeChat's error answer: HTTP 200 with `{errcode, errmsg}`, the errmsg ending in a request id
 * (`, rid: xxxxxxxx-xxxxxxxx-xxxxxxxx`) as WeChat's do, so clients cannot match on the text.
 */
export function createErrorReply(random: (size: number) => Buffer) {
  return (errcode: Errcode): SandboxResponse => {
    const rid = [4, 4, 4].map((n) => random(n).toString('hex')).join('-');
    return { body: { errcode, errmsg: `${ERRMSG[errcode]}, rid: ${rid}` } };
  };
}
