import { createPublicKey, verify, X509Certificate, type KeyObject } from 'node:crypto';

/** The prefix of WeChat Pay public key ids (the key mode that replaces platform certificates). */
export const PUBLIC_KEY_ID_PREFIX = 'PUB_KEY_ID_';

/**
 * WeChat Pay sends probe requests whose signature starts with this, to check that the merchant
 * really verifies: a merchant that accepts one does not verify at all. Always reject them.
 */
export const SIGNTEST_PREFIX = 'WECHATPAY/SIGNTEST/';

/** How far a signed timestamp may be from the verifier's clock (WeChat Pay's own guidance: 5 minutes). */
export const DEFAULT_MAX_SKEW_SECONDS = 300;

/** One WeChat Pay verification key. */
export interface PlatformKey {
  /** What `Wechatpay-Serial` names: a platform certificate's serial number, or a `PUB_KEY_ID_...`. */
  readonly id: string;
  readonly kind: 'certificate' | 'public-key';
  readonly key: KeyObject;
  /** For certificates: when it stops being valid (epoch ms). */
  readonly notAfter?: number;
}

/**
 * The verification keys currently trusted, by the id `Wechatpay-Serial` names. Several platform
 * certificates and several public keys may be trusted at once, so a rotation or a migration from
 * certificates to public keys never rejects a genuine message.
 */
export type PlatformKeySet = ReadonlyMap<string, PlatformKey>;

/** A platform certificate as a key; its id is the certificate's serial number (upper-case hex). */
export function certificateKey(pem: string | Buffer): PlatformKey {
  const cert = new X509Certificate(pem);
  const key = cert.publicKey;
  if (key.asymmetricKeyType !== 'rsa') throw new Error('expected an RSA platform certificate');
  return {
    id: cert.serialNumber.toUpperCase(),
    kind: 'certificate',
    key,
    notAfter: Date.parse(cert.validTo),
  };
}

/** A WeChat Pay public key (`pub_key.pem`) with the id shown next to it (`PUB_KEY_ID_...`). */
export function publicKeyWithId(id: string, pem: string | Buffer): PlatformKey {
  if (!id.startsWith(PUBLIC_KEY_ID_PREFIX))
    throw new Error(`a public key id starts with ${PUBLIC_KEY_ID_PREFIX}`);
  const key = createPublicKey(pem);
  if (key.asymmetricKeyType !== 'rsa') throw new Error('expected an RSA public key');
  return { id, kind: 'public-key', key };
}

const PEM_BLOCK = /-----BEGIN ([A-Z ]+)-----[\s\S]*?-----END \1-----/g;

/**
 * Parses a key bundle: any number of `CERTIFICATE` PEM blocks (platform certificates, ids read from
 * the certificates) and `PUBLIC KEY` blocks, each preceded by a line holding its `PUB_KEY_ID_...`:
 *
 * ```
 * PUB_KEY_ID_0112345678202401010000000000000000
 * -----BEGIN PUBLIC KEY-----
 * ...
 * -----END PUBLIC KEY-----
 * -----BEGIN CERTIFICATE-----
 * ...
 * ```
 *
 * Throws (naming no key material) when a block cannot be read, a public key has no id, an id
 * repeats, or the bundle holds no key at all.
 */
export function parsePlatformKeyBundle(text: string): PlatformKeySet {
  const keys = new Map<string, PlatformKey>();
  for (const match of text.matchAll(PEM_BLOCK)) {
    const [block, type] = match;
    let key: PlatformKey;
    if (type === 'CERTIFICATE') {
      key = certificateKey(block);
    } else if (type === 'PUBLIC KEY') {
      const before = text.slice(0, match.index).trimEnd();
      const id = before.slice(before.lastIndexOf('\n') + 1).trim();
      if (!id.startsWith(PUBLIC_KEY_ID_PREFIX))
        throw new Error(
          `public key #${keys.size + 1}: put its ${PUBLIC_KEY_ID_PREFIX}... id on the line above it`,
        );
      key = publicKeyWithId(id, block);
    } else {
      throw new Error(`unexpected PEM block "${type}" (expected CERTIFICATE or PUBLIC KEY)`);
    }
    if (keys.has(key.id)) throw new Error(`key id ${key.id} appears twice`);
    keys.set(key.id, key);
  }
  if (keys.size === 0) throw new Error('no CERTIFICATE or PUBLIC KEY block found');
  return keys;
}

/** The four headers WeChat Pay signs responses and notifications with. */
export interface WechatpaySignatureHeaders {
  /** `Wechatpay-Serial`: which key signed. */
  serial: string | undefined;
  /** `Wechatpay-Signature`: base64 SHA256withRSA. */
  signature: string | undefined;
  /** `Wechatpay-Timestamp`: Unix seconds. */
  timestamp: string | undefined;
  /** `Wechatpay-Nonce`. */
  nonce: string | undefined;
}

/** Reads the signature headers from Node's lower-cased header object. */
export function signatureHeadersOf(
  headers: Record<string, string | string[] | undefined> | Headers,
): WechatpaySignatureHeaders {
  const get = (name: string): string | undefined => {
    if (headers instanceof Headers) return headers.get(name) ?? undefined;
    const value = headers[name];
    return Array.isArray(value) ? value[0] : value;
  };
  return {
    serial: get('wechatpay-serial'),
    signature: get('wechatpay-signature'),
    timestamp: get('wechatpay-timestamp'),
    nonce: get('wechatpay-nonce'),
  };
}

/** Why a message was not accepted as WeChat Pay's. */
export type VerificationFailure =
  | 'missing-header'
  | 'signtest-probe'
  | 'bad-timestamp'
  | 'timestamp-skew'
  | 'unknown-serial'
  | 'expired-certificate'
  | 'bad-signature';

/** A verification outcome; on success, the key that verified. */
export type VerificationResult =
  | { ok: true; keyId: string; timestamp: number; nonce: string }
  | { ok: false; reason: VerificationFailure; detail: string };

/**
 * The bytes a WeChat Pay response or notification signature covers: `timestamp\nnonce\n` + the raw
 * body bytes + `\n`. The body must be the bytes as received: parsing and re-serialising JSON
 * (key order, spacing, escapes) changes them and the signature no longer matches.
 */
export function responseSignatureMessage(timestamp: string, nonce: string, body: Buffer | string): Buffer {
  const raw = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  return Buffer.concat([Buffer.from(`${timestamp}\n${nonce}\n`, 'utf8'), raw, Buffer.from('\n')]);
}

/**
 * Verifies a WeChat Pay response or notification over its raw body: all four headers present, not a
 * SIGNTEST probe, timestamp within `maxSkewSeconds` of `nowMs` (both directions), the key named by
 * `Wechatpay-Serial` trusted (and, for a certificate, not expired), and the signature valid.
 * Replay of a nonce is the caller's to check (it needs shared state): do it after this succeeds.
 */
export function verifyWechatpaySignature(
  keys: PlatformKeySet,
  headers: WechatpaySignatureHeaders,
  body: Buffer | string,
  options: { nowMs: number; maxSkewSeconds?: number },
): VerificationResult {
  const { serial, signature, timestamp, nonce } = headers;
  if (!serial || !signature || !timestamp || !nonce)
    return {
      ok: false,
      reason: 'missing-header',
      detail: 'Wechatpay-Serial/Signature/Timestamp/Nonce are required',
    };
  if (signature.startsWith(SIGNTEST_PREFIX))
    return { ok: false, reason: 'signtest-probe', detail: 'a WECHATPAY/SIGNTEST/ probe signature' };
  if (!/^\d{1,12}$/.test(timestamp))
    return { ok: false, reason: 'bad-timestamp', detail: 'Wechatpay-Timestamp is not Unix seconds' };
  const ts = Number(timestamp);
  const skew = Math.abs(options.nowMs / 1000 - ts);
  if (skew > (options.maxSkewSeconds ?? DEFAULT_MAX_SKEW_SECONDS))
    return { ok: false, reason: 'timestamp-skew', detail: `timestamp is ${Math.round(skew)} s from now` };
  const key = keys.get(serial.toUpperCase()) ?? keys.get(serial);
  if (key === undefined) return { ok: false, reason: 'unknown-serial', detail: `no trusted key ${serial}` };
  if (key.notAfter !== undefined && key.notAfter < options.nowMs)
    return { ok: false, reason: 'expired-certificate', detail: `certificate ${serial} has expired` };
  const valid = verify(
    'sha256',
    responseSignatureMessage(timestamp, nonce, body),
    key.key,
    Buffer.from(signature, 'base64'),
  );
  if (!valid) return { ok: false, reason: 'bad-signature', detail: 'signature does not match the body' };
  return { ok: true, keyId: key.id, timestamp: ts, nonce };
}
