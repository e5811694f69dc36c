import { sign, type KeyObject } from 'node:crypto';

// A minimal DER writer: just what a self-signed X.509 v3 certificate needs. The signature itself is
// node:crypto's; only the encoding is written here.
function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const tlv = (tag: number, ...content: Buffer[]) => {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
};
const seq = (...content: Buffer[]) => tlv(0x30, ...content);
const SHA256_WITH_RSA = seq(Buffer.from('06092a864886f70d01010b', 'hex'), Buffer.from('0500', 'hex'));
const COMMON_NAME_OID = Buffer.from('0603550403', 'hex');

function time(ms: number): Buffer {
  const iso = new Date(ms).toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
  const year = new Date(ms).getUTCFullYear();
  return year < 2050 ? tlv(0x17, Buffer.from(iso.slice(2), 'ascii')) : tlv(0x18, Buffer.from(iso, 'ascii'));
}

/**
 * A self-signed X.509 certificate for local runs and tests, where no real WeChat Pay platform
 * certificate exists (the sandbox signs with one). node:crypto can read certificates but not make
 * them, and `openssl` is not on every developer machine. Never use it for anything real.
 */
export function createDevCertificate(options: {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** Upper-case hex, e.g. 40 characters like WeChat's serials. */
  serialHex: string;
  commonName: string;
  notBefore: number;
  notAfter: number;
}): string {
  if (!/^[0-9A-F]{2,40}$/.test(options.serialHex)) throw new Error('serialHex: 2..40 upper-case hex digits');
  let serial = Buffer.from(options.serialHex.length % 2 ? `0${options.serialHex}` : options.serialHex, 'hex');
  if (serial[0]! & 0x80) serial = Buffer.concat([Buffer.from([0]), serial]);
  const name = seq(tlv(0x31, seq(COMMON_NAME_OID, tlv(0x0c, Buffer.from(options.commonName, 'utf8')))));
  const tbs = seq(
    tlv(0xa0, tlv(0x02, Buffer.from([2]))),
    tlv(0x02, serial),
    SHA256_WITH_RSA,
    name,
    seq(time(options.notBefore), time(options.notAfter)),
    name,
    options.publicKey.export({ type: 'spki', format: 'der' }),
  );
  const signature = sign('sha256', tbs, options.privateKey);
  const der = seq(tbs, SHA256_WITH_RSA, tlv(0x03, Buffer.from([0]), signature));
  const b64 = der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .trimEnd();
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}
