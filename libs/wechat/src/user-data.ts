import { createDecipheriv, createHash, timingSafeEqual } from 'node:crypto';
import { UserDataError } from './errors.js';

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

function base64Bytes(field: string, value: string, expectedLength?: number): Buffer {
  if (value.length % 4 !== 0 || !BASE64.test(value)) {
    throw new UserDataError('malformed', `${field}: not valid base64`);
  }
  const bytes = Buffer.from(value, 'base64');
  if (expectedLength !== undefined && bytes.length !== expectedLength) {
    throw new UserDataError(
      'malformed',
      `${field}: must decode to ${expectedLength} bytes, got ${bytes.length}`,
    );
  }
  return bytes;
}

/**
 * Checks the open-data signature `sha1(rawData + session_key)` (hex), in constant time.
 * Throws {@link UserDataError} `signature` when it does not match.
 */
export function verifyRawDataSignature(rawData: string, signature: string, sessionKey: string): void {
  const expected = createHash('sha1')
    .update(rawData + sessionKey, 'utf8')
    .digest();
  const given = Buffer.from(signature, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new UserDataError('signature', 'signature: sha1(raw_data + session_key) does not match');
  }
}

/** Decrypted open data: the payload and its watermark. */
export interface OpenData {
  readonly json: string;
  readonly data: Record<string, unknown>;
  readonly watermark: { readonly appid: string; readonly timestamp: number };
}

/**
 * Decrypts mini-program open data (AES-128-CBC, PKCS#7, key = base64 session_key, iv = base64,
 * 16 bytes) and checks that its watermark names `appid`.
 *
 * A padding or JSON failure almost always means the data was encrypted under a newer
 * session_key (the client called wx.login again): it is reported as `decrypt` so the caller can
 * tell the client to log in again rather than treat it as a server fault.
 */
export function decryptOpenData(
  sessionKey: string,
  encryptedData: string,
  iv: string,
  appid: string,
): OpenData {
  const key = base64Bytes('session_key', sessionKey, 16);
  const ivBytes = base64Bytes('iv', iv, 16);
  const cipherText = base64Bytes('encrypted_data', encryptedData);
  if (cipherText.length === 0 || cipherText.length % 16 !== 0) {
    throw new UserDataError('malformed', 'encrypted_data: must be a non-empty multiple of 16 bytes');
  }
  let json: string;
  let data: Record<string, unknown>;
  try {
    const decipher = createDecipheriv('aes-128-cbc', key, ivBytes);
    json = Buffer.concat([decipher.update(cipherText), decipher.final()]).toString('utf8');
    data = JSON.parse(json) as Record<string, unknown>;
  } catch {
    throw new UserDataError(
      'decrypt',
      'encrypted_data could not be decrypted with the session_key: the client most likely called wx.login again after this data was produced; log in again and retry',
    );
  }
  const watermark = data.watermark as { appid?: unknown; timestamp?: unknown } | undefined;
  if (typeof watermark?.appid !== 'string' || watermark.appid !== appid) {
    throw new UserDataError('watermark', 'the data’s watermark names a different appid than the session');
  }
  return { json, data, watermark: { appid: watermark.appid, timestamp: Number(watermark.timestamp ?? 0) } };
}
