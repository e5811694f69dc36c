import { createPrivateKey, randomBytes, sign, type KeyObject } from 'node:crypto';

/** The APIv3 authorization scheme: SHA256withRSA (PKCS#1 v1.5) with a 2048-bit merchant key. */
export const AUTH_SCHEMA = 'WECHATPAY2-SHA256-RSA2048';

/**
 * Loads an RSA private key from PEM: PKCS#8, as WeChat Pay's certificate tool writes
 * `apiclient_key.pem`, or PKCS#1. Throws when it is not an RSA key, so a wrong file is caught
 * when it is loaded, not at the first payment.
 */
export function loadPrivateKey(pem: string | Buffer | KeyObject): KeyObject {
  const key = typeof pem === 'string' || Buffer.isBuffer(pem) ? createPrivateKey(pem) : pem;
  if (key.type !== 'private' || key.asymmetricKeyType !== 'rsa')
    throw new Error('expected an RSA private key');
  return key;
}

/** Base64 SHA256withRSA signature of `message` (UTF-8 when a string): every APIv3 signature is this. */
export function rsaSign(privateKey: KeyObject, message: string | Buffer): string {
  return sign(
    'sha256',
    typeof message === 'string' ? Buffer.from(message, 'utf8') : message,
    privateKey,
  ).toString('base64');
}

/**
 * A nonce as WeChat Pay's SDKs make them: 32 characters of [0-9A-Z]. The caller may pass its own
 * random source (tests).
 */
export function createNonce(random: (size: number) => Buffer = randomBytes): string {
  const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';
  const bytes = random(32);
  let out = '';
  for (const byte of bytes) out += alphabet[byte % alphabet.length];
  return out;
}

/** What an APIv3 request signature covers. */
export interface RequestToSign {
  /** `GET`, `POST` ... as sent. */
  method: string;
  /** The request target exactly as sent: absolute path plus `?query` when there is one, no host. */
  pathAndQuery: string;
  /** The exact body bytes sent; empty for GET. */
  body?: string | Buffer;
  /** Unix seconds. */
  timestamp: number;
  nonce: string;
}

/** The merchant identity that signs requests. */
export interface MerchantCredentials {
  mchid: string;
  /** The serial number of the merchant API certificate whose key signs (hex, as WeChat shows it). */
  serialNo: string;
  privateKey: KeyObject;
}

/**
 * The string an APIv3 request signature covers: `METHOD\nPATH?QUERY\nTIMESTAMP\nNONCE\nBODY\n`.
 * Sign exactly the bytes you send: a body re-serialised after signing fails WeChat's check.
 */
export function requestSignatureMessage(request: RequestToSign): string {
  const body = request.body === undefined ? '' : request.body.toString();
  return `${request.method.toUpperCase()}\n${request.pathAndQuery}\n${request.timestamp}\n${request.nonce}\n${body}\n`;
}

/**
 * The `Authorization` header of an APIv3 request:
 * `WECHATPAY2-SHA256-RSA2048 mchid="..",nonce_str="..",signature="..",timestamp="..",serial_no=".."`.
 */
export function authorizationHeader(merchant: MerchantCredentials, request: RequestToSign): string {
  const signature = rsaSign(merchant.privateKey, requestSignatureMessage(request));
  return (
    `${AUTH_SCHEMA} mchid="${merchant.mchid}",nonce_str="${request.nonce}",signature="${signature}",` +
    `timestamp="${request.timestamp}",serial_no="${merchant.serialNo}"`
  );
}

/** The parts of an `Authorization` header (the sandbox checks merchants' requests with it). */
export interface ParsedAuthorization {
  mchid: string;
  nonce: string;
  signature: string;
  timestamp: string;
  serialNo: string;
}

/** Parses an APIv3 `Authorization` header; undefined when it is not one. */
export function parseAuthorizationHeader(header: string | undefined): ParsedAuthorization | undefined {
  if (header === undefined || !header.startsWith(`${AUTH_SCHEMA} `)) return undefined;
  const fields = new Map<string, string>();
  for (const match of header.slice(AUTH_SCHEMA.length + 1).matchAll(/(\w+)="([^"]*)"/g))
    fields.set(match[1]!, match[2]!);
  const [mchid, nonce, signature, timestamp, serialNo] = [
    'mchid',
    'nonce_str',
    'signature',
    'timestamp',
    'serial_no',
  ].map((k) => fields.get(k));
  if (!mchid || !nonce || !signature || !timestamp || !serialNo) return undefined;
  return { mchid, nonce, signature, timestamp, serialNo };
}

/** The arguments of `wx.requestPayment` (and WeixinJSBridge's `getBrandWCPayRequest`). */
export interface JsapiPayParams {
  appId: string;
  timeStamp: string;
  nonceStr: string;
  package: string;
  signType: 'RSA';
  paySign: string;
}

/**
 * Signs the JSAPI/mini-program payment parameters: paySign is SHA256withRSA with the merchant key
 * over `appId\ntimeStamp\nnonceStr\npackage\n`, where package is `prepay_id=<id>`.
 */
export function jsapiPayParams(
  privateKey: KeyObject,
  input: { appId: string; prepayId: string; timestamp: number; nonce: string },
): JsapiPayParams {
  const timeStamp = String(input.timestamp);
  const pkg = `prepay_id=${input.prepayId}`;
  return {
    appId: input.appId,
    timeStamp,
    nonceStr: input.nonce,
    package: pkg,
    signType: 'RSA',
    paySign: rsaSign(privateKey, `${input.appId}\n${timeStamp}\n${input.nonce}\n${pkg}\n`),
  };
}
