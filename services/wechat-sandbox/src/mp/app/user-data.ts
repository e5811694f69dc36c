import { createCipheriv, createHash } from 'node:crypto';
import { unixSeconds } from '../domain/limits.js';
import type { MpState } from '../state/index.js';

/** The user data a test hands the WeChat client to seal. */
export interface UserDataRequest {
  readonly appid: string;
  readonly openid: string;
  readonly data: Record<string, unknown>;
  /** The watermark's appid when not `appid` (tests of a mismatched watermark). */
  readonly watermarkAppid?: string;
}

/**
 * What the WeChat client hands a mini-program from wx.getUserInfo and friends: `data` plus a
 * watermark, encrypted with AES-128-CBC under the user's current session_key, with `rawData` and
 * its `signature` (sha1(rawData + session_key)). Undefined when the user has no session.
 */
export function encryptUserData(state: MpState, p: UserDataRequest) {
  const sessionKey = state.users.sessionKey(p.appid, p.openid);
  if (sessionKey === undefined) return undefined;
  const rawData = JSON.stringify(p.data);
  const iv = state.random(16);
  const plain = JSON.stringify({
    ...p.data,
    watermark: { timestamp: unixSeconds(state.clock.now()), appid: p.watermarkAppid ?? p.appid },
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
}
