import { z } from 'zod';
import type { WeChatApi } from '../api-client.js';
import { appCredentials, parseAnswer } from './answer.js';

const JSCODE2SESSION = '/sns/jscode2session';
const GET_USER_PHONE_NUMBER = '/wxa/business/getuserphonenumber';

const sessionAnswer = z.object({
  openid: z.string().min(1),
  session_key: z.string().min(1),
  unionid: z.string().min(1).optional(),
});

/** What `jscode2session` says about a wx.login code. */
export interface CodeSession {
  readonly openid: string;
  /** The user's current session_key (base64): a secret that must never leave the service holding it. */
  readonly sessionKey: string;
  readonly unionid: string | undefined;
}

/**
 * `GET /sns/jscode2session`: redeems a wx.login code (single-use: `invalid-code` or `code-used`
 * when it is bad) for the user's openid and session_key. Pass the caller's signal: a code WeChat
 * has not answered for by the deadline is given up, unspent.
 */
export async function jscode2session(
  api: WeChatApi,
  input: { appid: string; appSecret: string; jsCode: string },
  signal?: AbortSignal,
): Promise<CodeSession> {
  const query = { ...appCredentials(input), js_code: input.jsCode, grant_type: 'authorization_code' };
  const json = await api.get<unknown>(JSCODE2SESSION, query, signal);
  const answer = parseAnswer(JSCODE2SESSION, sessionAnswer, json);
  return { openid: answer.openid, sessionKey: answer.session_key, unionid: answer.unionid };
}

const phoneAnswer = z.object({
  phone_info: z.object({
    phoneNumber: z.string().min(1),
    purePhoneNumber: z.string().min(1),
    countryCode: z.string().min(1),
  }),
});

/** The phone number behind a getPhoneNumber code. */
export interface PhoneNumber {
  /** With the country code when it is not 86 (`+1 2025550123`), as WeChat gives it. */
  readonly phoneNumber: string;
  readonly purePhoneNumber: string;
  readonly countryCode: string;
}

/**
 * `POST /wxa/business/getuserphonenumber`: redeems a single-use getPhoneNumber code with the
 * app's access_token (`token-invalid` when WeChat no longer takes that token).
 */
export async function getUserPhoneNumber(
  api: WeChatApi,
  input: { accessToken: string; code: string },
  signal?: AbortSignal,
): Promise<PhoneNumber> {
  const query = { access_token: input.accessToken };
  const json = await api.post<unknown>(GET_USER_PHONE_NUMBER, query, { code: input.code }, signal);
  const { phone_info: info } = parseAnswer(GET_USER_PHONE_NUMBER, phoneAnswer, json);
  return {
    phoneNumber: info.phoneNumber,
    purePhoneNumber: info.purePhoneNumber,
    countryCode: info.countryCode,
  };
}
