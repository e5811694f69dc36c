import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { renderPushXml } from './push-body.js';

/** What the push URL is configured with in the admin console, plus the receiver to check. */
export interface MessageCryptOptions {
  /** The push Token configured in the admin console. */
  token: string;
  /** The 43-character EncodingAESKey: AES key = base64decode(encodingAesKey + '='), IV = key[0..16). */
  encodingAesKey: string;
  /** The receiver id checked after decryption: the appid (WeCom: the corpid or suite id). */
  appid: string;
  /** The 16-byte random prefix of each plaintext; defaults to node:crypto randomBytes. */
  random?: (size: number) => Buffer;
}

/** Which check a safe-mode message failed. */
export type MessageCryptFailure = 'signature' | 'appid' | 'padding' | 'malformed';

/**
 * A safe-mode message was refused. `signature`: msg_signature does not match (forged, or another
 * Token); `appid`: it was encrypted for another receiver; `padding` / `malformed`: the ciphertext
 * does not decrypt to WeChat's layout (another EncodingAESKey, or damaged in transit). The
 * message never carries the Token, the key or any plaintext.
 */
export class MessageCryptError extends Error {
  override readonly name = 'MessageCryptError';
  constructor(
    readonly reason: MessageCryptFailure,
    message: string,
  ) {
    super(message);
  }
}

/** WeChat's message encryption (WXBizMsgCrypt) for one push URL configuration. */
export interface MessageCrypt {
  /** sha1 hex of the lexicographically sorted [token, timestamp, nonce, ...(encrypt ? [encrypt] : [])] joined. */
  signature(timestamp: string, nonce: string, encrypt?: string): string;
  /** Timing-safe check of the plain-mode `signature` query parameter (URL verification and plain pushes). */
  verifySignature(signature: string, timestamp: string, nonce: string): boolean;
  /** Safe mode: checks msg_signature over (token, timestamp, nonce, encrypt), decrypts, checks appid; returns the inner message text. Throws MessageCryptError. */
  open(p: { msgSignature: string; timestamp: string; nonce: string; encrypt: string }): string;
  /** AES-256-CBC of random16 + msgLen(4, BE) + msg + appid, PKCS#7 padded to 32-byte blocks; base64. */
  encrypt(message: string): string;
  /** decrypt(encrypt) without signature check: { message, appid }. Throws MessageCryptError('padding'|'malformed'). */
  decrypt(encrypt: string): { message: string; appid: string };
  /** An encrypted passive reply / push envelope: Encrypt + MsgSignature + TimeStamp + Nonce, as XML or JSON text. */
  seal(message: string, timestamp: string, nonce: string, format: 'xml' | 'json'): string;
}

/** WeChat pads the plaintext to multiples of 32 bytes, not AES's 16. */
const PAD_BLOCK = 32;
const AES_BLOCK = 16;
const RANDOM_PREFIX = 16;
const HEADER = RANDOM_PREFIX + 4;
const ENCODING_AES_KEY = /^[A-Za-z0-9+/]{43}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const TIMESTAMP = /^(0|[1-9][0-9]{0,14})$/;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Builds the encryptor/verifier for one push URL configuration (Token, EncodingAESKey, appid).
 * Throws RangeError when the EncodingAESKey is not 43 base64 characters decoding to 32 bytes, or
 * the Token or appid is empty; the error never repeats the key.
 *
 * `open` checks the signature before it decrypts, so a forger learns nothing from the padding.
 * Call `decrypt` on its own only on text whose signature was already checked.
 */
export function createMessageCrypt(options: MessageCryptOptions): MessageCrypt {
  const key = aesKey(options.encodingAesKey);
  const { token, appid } = options;
  if (typeof token !== 'string' || token === '') throw new RangeError('token: must not be empty');
  if (typeof appid !== 'string' || appid === '') throw new RangeError('appid: must not be empty');
  const random = options.random ?? randomBytes;

  const signature = (timestamp: string, nonce: string, encrypt?: string): string =>
    sha1Sorted(encrypt ? [token, timestamp, nonce, encrypt] : [token, timestamp, nonce]);
  const encrypt = (message: string): string => encryptMessage(key, appid, random, message);
  const decrypt = (text: string): { message: string; appid: string } => decryptMessage(key, text);

  return {
    signature,
    verifySignature: (given, timestamp, nonce) => sameHex(given, signature(timestamp, nonce)),
    open({ msgSignature, timestamp, nonce, encrypt: text }) {
      if (!sameHex(msgSignature, signature(timestamp, nonce, text))) {
        throw new MessageCryptError(
          'signature',
          'msg_signature does not match sha1(token, timestamp, nonce, Encrypt): not sent by WeChat for this Token',
        );
      }
      const opened = decrypt(text);
      if (opened.appid !== appid) {
        throw new MessageCryptError('appid', 'the message was encrypted for another appid');
      }
      return opened.message;
    },
    encrypt,
    decrypt,
    seal(message, timestamp, nonce, format) {
      if (!TIMESTAMP.test(timestamp)) {
        throw new RangeError('timestamp: must be decimal seconds without leading zeros');
      }
      const sealed = encrypt(message);
      const envelope = {
        Encrypt: sealed,
        MsgSignature: signature(timestamp, nonce, sealed),
        TimeStamp: Number(timestamp),
        Nonce: nonce,
      };
      return format === 'json' ? JSON.stringify(envelope) : renderPushXml(envelope);
    },
  };
}

function aesKey(encodingAesKey: string): Buffer {
  const problem =
    'encodingAesKey: must be the 43-character EncodingAESKey from the admin console (base64 of a 32-byte AES key)';
  if (typeof encodingAesKey !== 'string' || !ENCODING_AES_KEY.test(encodingAesKey)) {
    throw new RangeError(problem);
  }
  const key = Buffer.from(`${encodingAesKey}=`, 'base64');
  if (key.length !== 32) throw new RangeError(problem);
  return key;
}

function sha1Sorted(parts: string[]): string {
  return createHash('sha1').update(parts.sort().join(''), 'utf8').digest('hex');
}

function sameHex(given: unknown, expected: string): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given.toLowerCase(), 'utf8');
  const b = Buffer.from(expected, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

function encryptMessage(
  key: Buffer,
  appid: string,
  random: (size: number) => Buffer,
  message: string,
): string {
  const prefix = random(RANDOM_PREFIX);
  if (!Buffer.isBuffer(prefix) || prefix.length !== RANDOM_PREFIX) {
    throw new RangeError(`random(${RANDOM_PREFIX}) must return ${RANDOM_PREFIX} bytes`);
  }
  const body = Buffer.from(message, 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length);
  const plain = Buffer.concat([prefix, length, body, Buffer.from(appid, 'utf8')]);
  const padLength = PAD_BLOCK - (plain.length % PAD_BLOCK);
  const padded = Buffer.concat([plain, Buffer.alloc(padLength, padLength)]);
  const cipher = createCipheriv('aes-256-cbc', key, key.subarray(0, AES_BLOCK)).setAutoPadding(false);
  return Buffer.concat([cipher.update(padded), cipher.final()]).toString('base64');
}

function decryptMessage(key: Buffer, encrypt: string): { message: string; appid: string } {
  const cipherText = cipherBytes(encrypt);
  const decipher = createDecipheriv('aes-256-cbc', key, key.subarray(0, AES_BLOCK)).setAutoPadding(false);
  const plain = unpad(Buffer.concat([decipher.update(cipherText), decipher.final()]));
  if (plain.length < HEADER) {
    throw new MessageCryptError('malformed', 'Encrypt: the plaintext is shorter than its header');
  }
  const length = plain.readUInt32BE(RANDOM_PREFIX);
  if (length > plain.length - HEADER) {
    throw new MessageCryptError('malformed', 'Encrypt: the message length field exceeds the plaintext');
  }
  return {
    message: utf8(plain.subarray(HEADER, HEADER + length)),
    appid: utf8(plain.subarray(HEADER + length)),
  };
}

function cipherBytes(encrypt: string): Buffer {
  if (typeof encrypt !== 'string' || encrypt.length % 4 !== 0 || !BASE64.test(encrypt)) {
    throw new MessageCryptError('malformed', 'Encrypt: not valid base64');
  }
  const bytes = Buffer.from(encrypt, 'base64');
  if (bytes.length === 0 || bytes.length % AES_BLOCK !== 0) {
    throw new MessageCryptError('malformed', 'Encrypt: not a whole number of AES blocks');
  }
  return bytes;
}

function unpad(padded: Buffer): Buffer {
  const pad = padded[padded.length - 1] ?? 0;
  let valid = pad >= 1 && pad <= PAD_BLOCK && pad <= padded.length;
  for (let i = padded.length - pad; valid && i < padded.length; i++) valid = padded[i] === pad;
  if (!valid) {
    throw new MessageCryptError(
      'padding',
      'Encrypt: the PKCS#7 padding is not valid (encrypted under another EncodingAESKey?)',
    );
  }
  return padded.subarray(0, padded.length - pad);
}

function utf8(bytes: Buffer): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new MessageCryptError('malformed', 'Encrypt: the plaintext is not UTF-8');
  }
}
