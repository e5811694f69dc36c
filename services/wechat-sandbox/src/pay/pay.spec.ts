// The Pay side's keys and signer alone: key files loaded (a bad one named by its variable), the
// merchant's Authorization checked, answers signed with the chosen key.
import assert from 'node:assert/strict';
import { generateKeyPairSync, verify } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { authorizationHeader, createDevCertificate, responseSignatureMessage } from '@wxmesh/wechat-pay';
import type { SandboxRequest } from '../http.js';
import { loadPayKeys, type PayKeyConfig } from './keys.js';
import { createPaySigner } from './signer.js';

const NOW = Date.UTC(2026, 0, 1);
const rsa = () => generateKeyPairSync('rsa', { modulusLength: 2048 });
const merchant = rsa();
const platform = rsa();
const publicKey = rsa();

function keyFiles(): PayKeyConfig {
  const dir = mkdtempSync(join(tmpdir(), 'sandbox-pay-'));
  const write = (name: string, text: string) => {
    const file = join(dir, name);
    writeFileSync(file, text);
    return file;
  };
  const pem = (key: typeof merchant.privateKey) => key.export({ type: 'pkcs8', format: 'pem' }).toString();
  const certificate = createDevCertificate({
    ...merchant,
    serialHex: 'AB12',
    commonName: 'sandbox spec merchant',
    notBefore: NOW - 3600_000,
    notAfter: NOW + 3600_000,
  });
  return {
    SANDBOX_PAY_MCHID: '1900000001',
    SANDBOX_PAY_APIV3_KEY_FILE: write('apiv3', ' 0123456789abcdef0123456789abcdef \nsecond line\n'),
    SANDBOX_PAY_MERCHANT_CERT_FILE: write('merchant.pem', certificate),
    SANDBOX_PAY_PLATFORM_KEY_FILE: write('platform.pem', pem(platform.privateKey)),
    SANDBOX_PAY_PLATFORM_SERIAL: 'PLATFORMSERIAL',
    SANDBOX_PAY_PUBLIC_KEY_PRIVATE_FILE: write('pubkey.pem', pem(publicKey.privateKey)),
    SANDBOX_PAY_PUBLIC_KEY_ID: 'PUB_KEY_ID_0001',
  };
}

const none = Object.fromEntries(Object.keys(keyFiles()).map((k) => [k, undefined])) as PayKeyConfig;

function request(authorization: string | undefined, body: string): SandboxRequest {
  return {
    method: 'POST',
    path: '/v3/pay/transactions/jsapi',
    query: new URLSearchParams(),
    headers: authorization === undefined ? {} : { authorization },
    body: Buffer.from(body),
    params: {},
    gone: new AbortController().signal,
  };
}

test('loadPayKeys: none configured is undefined; the APIv3 key is the first line, trimmed', () => {
  assert.equal(loadPayKeys(none), undefined);
  const keys = loadPayKeys(keyFiles())!;
  assert.equal(keys.mchid, '1900000001');
  assert.equal(keys.apiV3Key, '0123456789abcdef0123456789abcdef');
  assert.equal(keys.signers.certificate.id, 'PLATFORMSERIAL');
  assert.equal(keys.signers['public-key'].id, 'PUB_KEY_ID_0001');
});

test('loadPayKeys: a file that does not parse is named by its variable', () => {
  const config = keyFiles();
  writeFileSync(config.SANDBOX_PAY_MERCHANT_CERT_FILE!, 'not a certificate');
  assert.throws(() => loadPayKeys(config), /^Error: SANDBOX_PAY_MERCHANT_CERT_FILE: /);
});

test('the signer accepts the merchant’s signed request, refuses a tampered or stale one, signs with the chosen key', () => {
  const keys = loadPayKeys(keyFiles())!;
  const signer = createPaySigner({ keys, now: () => NOW, signWith: 'public-key' });
  const body = '{"out_trade_no":"T1"}';
  const signed = (timestamp: number) =>
    authorizationHeader(
      { mchid: keys.mchid, serialNo: 'AB12', privateKey: merchant.privateKey },
      { method: 'POST', pathAndQuery: '/v3/pay/transactions/jsapi', body, timestamp, nonce: 'n1' },
    );
  /** The refusal's message (a signed 401 with a JSON body), or undefined when accepted. */
  const errorOf = (req: SandboxRequest) => {
    const refusal = signer.checkMerchant(req);
    if (refusal === undefined) return undefined;
    assert.equal(refusal.status, 401);
    return (JSON.parse(String(refusal.body)) as { message: string }).message;
  };

  assert.equal(signer.checkMerchant(request(signed(NOW / 1000), body)), undefined);
  assert.equal(errorOf(request(signed(NOW / 1000), `${body} `)), 'signature does not verify');
  assert.equal(errorOf(request(signed(NOW / 1000 - 301), body)), 'timestamp expired');
  assert.equal(errorOf(request(undefined, body)), 'Authorization missing or malformed');

  const answer = signer.signed(200, { prepay_id: 'wx1' });
  const headers = answer.headers!;
  assert.equal(headers['wechatpay-serial'], 'PUB_KEY_ID_0001');
  const message = responseSignatureMessage(
    headers['wechatpay-timestamp']!,
    headers['wechatpay-nonce']!,
    String(answer.body),
  );
  assert.ok(
    verify('sha256', message, publicKey.publicKey, Buffer.from(headers['wechatpay-signature']!, 'base64')),
  );
  signer.use('certificate');
  assert.equal(signer.signed(200, {}).headers!['wechatpay-serial'], 'PLATFORMSERIAL');
});
