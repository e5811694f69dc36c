// Known-answer tests against WeChat Pay's official Java SDK test material
// (github.com/wechatpay-apiv3/wechatpay-java, core/src/test/...): the keys in ../test/fixtures are its
// test resources, and the expected values below are quoted from the named test files.
import assert from 'node:assert/strict';
import { generateKeyPairSync, verify, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  authorizationHeader,
  certificateKey,
  createDevCertificate,
  decryptResource,
  encryptResource,
  jsapiPayParams,
  loadPrivateKey,
  parseAuthorizationHeader,
  parsePlatformKeyBundle,
  publicKeyWithId,
  requestSignatureMessage,
  ResourceDecryptionError,
  responseSignatureMessage,
  rsaSign,
  verifyWechatpaySignature,
  type PlatformKeySet,
} from './index.js';

const fixture = (name: string) => readFileSync(new URL(`../test/fixtures/${name}`, import.meta.url), 'utf8');
const merchantKey = loadPrivateKey(fixture('merchant_private_key.pem'));
const merchantCertPem = fixture('merchant_certificate.pem');
const officialPublicKeyPem = fixture('wechat_pay_public_key.pem');

// core/src/test/java/com/wechat/pay/java/core/model/TestConfig.java (the APIv3 key is a key, so it
// lives with the other key material in ../test/fixtures)
const API_V3_KEY = fixture('api_v3_key.txt');
const MERCHANT_CERTIFICATE_SERIAL_NUMBER = '5F1C72E2A8931B72A2E13AF8DEE92471EB397115';
const MERCHANT_ID = '1234567891';

// core/src/test/java/com/wechat/pay/java/core/cipher/RSAVerifierTest.java: the test merchant key's
// signature of "message".
const SIGNATURE_OF_MESSAGE =
  'Rq+5ZpWV6IHTWE1+9gCrYJKguNgbItpMdlIA+PVCPCdUAKNlohZz7CL7Y8xWDIFJjdGnErMj6Z+Q/h9CF5MV+nAVkqDmBR0uP5pp' +
  'sUEzco4ijvKHsvI2ro4boSW6vSfQs3W8I4QSI9a0/NFIgvj83Fv27LIYZf7deaFWmEwd1fpAeJRCyoKyBeJPdsjVx0//Lqe6' +
  'Wze2zVdliLcBvaHCfpd8+rAVGS+FQDeWgHqJ7n/Zy09LmV1/ghs7pO1mdjdD16SHKlysAD3K5hNGUJX/SHrEXEcu1yO1AOb/' +
  'YvOVkjNh8243rcfXNE5L4ph2XS11vS+2aToKYSOcKUagf0LLaw==';

test('SHA256withRSA: the official merchant key signs "message" to the official value', () => {
  assert.equal(rsaSign(merchantKey, 'message'), SIGNATURE_OF_MESSAGE);
});

test('certificate key: the id is the official serial and it verifies the official signature', () => {
  const key = certificateKey(merchantCertPem);
  assert.equal(key.id, MERCHANT_CERTIFICATE_SERIAL_NUMBER);
  assert.equal(key.kind, 'certificate');
  assert.ok(verify('sha256', Buffer.from('message'), key.key, Buffer.from(SIGNATURE_OF_MESSAGE, 'base64')));
  // RSAVerifierTest.testPublicKeyVerify: the WeChat Pay public key must not verify the merchant's signature.
  const other = publicKeyWithId('PUB_KEY_ID_0000000000000000000000000000000000', officialPublicKeyPem);
  assert.equal(
    verify('sha256', Buffer.from('message'), other.key, Buffer.from(SIGNATURE_OF_MESSAGE, 'base64')),
    false,
  );
});

// core/src/test/java/com/wechat/pay/java/core/cipher/AeadAesCipherTest.java
test('AEAD_AES_256_GCM: encrypts and decrypts the official vector', () => {
  const encrypted = encryptResource(API_V3_KEY, 'message', {
    nonce: 'uluk4a9R25RW',
    associatedData: 'associatedData',
  });
  assert.equal(encrypted.ciphertext, 'ulwSiIajGClcvcOYvOQ7+l+0PAbzzwI=');
  const plain = decryptResource(API_V3_KEY, {
    algorithm: 'AEAD_AES_256_GCM',
    ciphertext: 'ulwSiIajGClcvcOYvOQ7+l+0PAbzzwI=',
    associated_data: 'associatedData',
    nonce: 'uluk4a9R25RW',
  });
  assert.equal(plain.toString(), 'message');
});

// TestConfig.DOWNLOAD_CERTIFICATE_RESPONSE: a certificate download encrypted with API_V3_KEY.
test('AEAD_AES_256_GCM: decrypts the official certificate download to the certificate it names', () => {
  const { data } = JSON.parse(fixture('download_certificate_response.json')) as {
    data: [{ serial_no: string; encrypt_certificate: Parameters<typeof decryptResource>[1] }];
  };
  const pem = decryptResource(['0'.repeat(32), API_V3_KEY], data[0].encrypt_certificate).toString();
  assert.equal(new X509Certificate(pem).serialNumber, data[0].serial_no);
  assert.equal(certificateKey(pem).id, '5DEA10EF55877E3CF6C33255C2E7DEFFF7E427EC');
});

test('AEAD_AES_256_GCM: a wrong key, wrong associated data or a flipped byte is refused', () => {
  const good = {
    algorithm: 'AEAD_AES_256_GCM',
    ciphertext: 'ulwSiIajGClcvcOYvOQ7+l+0PAbzzwI=',
    associated_data: 'associatedData',
    nonce: 'uluk4a9R25RW',
  };
  assert.throws(() => decryptResource('b'.repeat(32), good), ResourceDecryptionError);
  assert.throws(
    () => decryptResource(API_V3_KEY, { ...good, associated_data: 'transaction' }),
    ResourceDecryptionError,
  );
  const bytes = Buffer.from(good.ciphertext, 'base64');
  bytes[0]! ^= 1;
  assert.throws(
    () => decryptResource(API_V3_KEY, { ...good, ciphertext: bytes.toString('base64') }),
    ResourceDecryptionError,
  );
  assert.throws(
    () => decryptResource(API_V3_KEY, { ...good, algorithm: 'AES_128' }),
    ResourceDecryptionError,
  );
});

// core/src/test/java/com/wechat/pay/java/core/auth/WechatPay2CredentialTest.java
test('request signature: the official message layout and an Authorization header WeChat can check', () => {
  const request = {
    method: 'GET',
    pathAndQuery: '/v3/pay/transactions/id/1217752501201407033233368018?mchid=1230000109',
    body: '',
    timestamp: 1652750623,
    nonce: 'eBYqCOxa0QudMnPvVilkTzOg3gHh5Z3u',
  };
  assert.equal(
    requestSignatureMessage(request),
    'GET\n/v3/pay/transactions/id/1217752501201407033233368018?mchid=1230000109\n1652750623\neBYqCOxa0QudMnPvVilkTzOg3gHh5Z3u\n\n',
  );
  const header = authorizationHeader(
    { mchid: MERCHANT_ID, serialNo: MERCHANT_CERTIFICATE_SERIAL_NUMBER, privateKey: merchantKey },
    request,
  );
  assert.match(
    header,
    /^WECHATPAY2-SHA256-RSA2048 mchid="1234567891",nonce_str="eBYqCOxa0QudMnPvVilkTzOg3gHh5Z3u",signature="[A-Za-z0-9+/=]+",timestamp="1652750623",serial_no="5F1C72E2A8931B72A2E13AF8DEE92471EB397115"$/,
  );
  const parsed = parseAuthorizationHeader(header)!;
  assert.equal(parsed.serialNo, MERCHANT_CERTIFICATE_SERIAL_NUMBER);
  assert.ok(
    verify(
      'sha256',
      Buffer.from(requestSignatureMessage(request)),
      certificateKey(merchantCertPem).key,
      Buffer.from(parsed.signature, 'base64'),
    ),
  );
  assert.equal(parseAuthorizationHeader('Bearer x'), undefined);
});

// The JSAPI example of WeChat Pay's docs ("JSAPI调起支付"): appId wx8888888888888888,
// timeStamp 1414561699, nonceStr 5K8264ILTKCH16CQ2502SI8ZNMTM67VS, prepay id wx2014...5100.
test('JSAPI paySign: signs appId, timeStamp, nonceStr, package, each line-terminated', () => {
  const params = jsapiPayParams(merchantKey, {
    appId: 'wx8888888888888888',
    prepayId: 'wx201410272009395522657a690389285100',
    timestamp: 1414561699,
    nonce: '5K8264ILTKCH16CQ2502SI8ZNMTM67VS',
  });
  assert.equal(params.package, 'prepay_id=wx201410272009395522657a690389285100');
  assert.equal(params.timeStamp, '1414561699');
  assert.equal(params.signType, 'RSA');
  const message =
    'wx8888888888888888\n1414561699\n5K8264ILTKCH16CQ2502SI8ZNMTM67VS\nprepay_id=wx201410272009395522657a690389285100\n';
  assert.equal(params.paySign, rsaSign(merchantKey, message));
  assert.ok(
    verify(
      'sha256',
      Buffer.from(message),
      certificateKey(merchantCertPem).key,
      Buffer.from(params.paySign, 'base64'),
    ),
  );
});

// A notification as WeChat Pay signs it, with the official merchant key standing in for the
// platform key (its certificate is the official merchant certificate).
const NOW_MS = 1_700_000_000_000;
const body = Buffer.from(
  '{"id":"EV-2018022511223320873","create_time":"2015-05-20T13:29:35+08:00","resource_type":"encrypt-resource","event_type":"TRANSACTION.SUCCESS","summary":"支付成功","resource":{}}',
);
const keys: PlatformKeySet = new Map([[MERCHANT_CERTIFICATE_SERIAL_NUMBER, certificateKey(merchantCertPem)]]);
function signed(at = NOW_MS / 1000, payload: Buffer = body) {
  const ts = Math.floor(at);
  const nonce = 'fdasflkja484w';
  return {
    serial: MERCHANT_CERTIFICATE_SERIAL_NUMBER,
    timestamp: String(ts),
    nonce,
    signature: rsaSign(merchantKey, responseSignatureMessage(String(ts), nonce, payload)),
  };
}
// The merchant certificate expired in 2025; these checks run at a fixed clock inside its validity.
const at = { nowMs: NOW_MS };

test('notification verification: accepts the raw bytes as signed, names the key', () => {
  const result = verifyWechatpaySignature(keys, signed(), body, at);
  assert.deepEqual(result, {
    ok: true,
    keyId: MERCHANT_CERTIFICATE_SERIAL_NUMBER,
    timestamp: NOW_MS / 1000,
    nonce: 'fdasflkja484w',
  });
});

test('notification verification: rejects a flipped byte, re-serialised JSON and a foreign serial', () => {
  const flipped = Buffer.from(body);
  flipped[10]! ^= 1;
  assert.equal(verifyWechatpaySignature(keys, signed(), flipped, at).ok, false);
  const reencoded = Buffer.from(JSON.stringify(JSON.parse(body.toString()), null, 1));
  for (const variant of [
    reencoded,
    Buffer.from(body.toString().replace('支付成功', '\\u652f\\u4ed8\\u6210\\u529f')),
  ]) {
    const r = verifyWechatpaySignature(keys, signed(), variant, at);
    assert.equal(r.ok === false && r.reason, 'bad-signature');
  }
  const r = verifyWechatpaySignature(
    keys,
    { ...signed(), serial: '440024045C4A427599D09BB4E3DE0279F2E813FD' },
    body,
    at,
  );
  assert.equal(r.ok === false && r.reason, 'unknown-serial');
});

test('notification verification: 299 s of skew passes, 301 s either way and SIGNTEST probes fail', () => {
  for (const skew of [-299, 299])
    assert.equal(verifyWechatpaySignature(keys, signed(NOW_MS / 1000 + skew), body, at).ok, true);
  for (const skew of [-301, 301]) {
    const r = verifyWechatpaySignature(keys, signed(NOW_MS / 1000 + skew), body, at);
    assert.equal(r.ok === false && r.reason, 'timestamp-skew');
  }
  const probe = { ...signed(), signature: 'WECHATPAY/SIGNTEST/' + signed().signature };
  const r = verifyWechatpaySignature(keys, probe, body, at);
  assert.equal(r.ok === false && r.reason, 'signtest-probe');
  const missing = verifyWechatpaySignature(keys, { ...signed(), nonce: undefined }, body, at);
  assert.equal(missing.ok === false && missing.reason, 'missing-header');
});

test('notification verification: an expired platform certificate is not trusted', () => {
  const r = verifyWechatpaySignature(keys, signed(Date.now() / 1000), body, { nowMs: Date.now() });
  assert.equal(r.ok === false && r.reason, 'expired-certificate');
});

test('key bundle: several certificates and several public keys at once, each found by its id', () => {
  const platform = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pubkey = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const devCert = createDevCertificate({
    ...platform,
    serialHex: 'ABCDEF0123456789ABCDEF0123456789ABCDEF01',
    commonName: 'wxmesh sandbox',
    notBefore: Date.now() - 60_000,
    notAfter: Date.now() + 86_400_000,
  });
  const parsedDev = new X509Certificate(devCert);
  assert.equal(parsedDev.serialNumber, 'ABCDEF0123456789ABCDEF0123456789ABCDEF01');
  assert.ok(parsedDev.verify(platform.publicKey), 'self-signed certificate verifies');
  const bundle = [
    merchantCertPem,
    'PUB_KEY_ID_0111111111111111111111111111111111',
    officialPublicKeyPem,
    devCert,
    'PUB_KEY_ID_0122222222222222222222222222222222',
    pubkey.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  ].join('\n');
  const set = parsePlatformKeyBundle(bundle);
  assert.deepEqual([...set.keys()].sort(), [
    '5F1C72E2A8931B72A2E13AF8DEE92471EB397115',
    'ABCDEF0123456789ABCDEF0123456789ABCDEF01',
    'PUB_KEY_ID_0111111111111111111111111111111111',
    'PUB_KEY_ID_0122222222222222222222222222222222',
  ]);
  const nowMs = Date.now();
  const ts = String(Math.floor(nowMs / 1000));
  for (const [serial, key] of [
    ['ABCDEF0123456789ABCDEF0123456789ABCDEF01', platform.privateKey],
    ['PUB_KEY_ID_0122222222222222222222222222222222', pubkey.privateKey],
  ] as const) {
    const signature = rsaSign(key, responseSignatureMessage(ts, 'n1', body));
    assert.equal(
      verifyWechatpaySignature(set, { serial, signature, timestamp: ts, nonce: 'n1' }, body, { nowMs }).ok,
      true,
      serial,
    );
  }
  // A message signed by one key and labelled with another key's id does not verify.
  const crossed = rsaSign(pubkey.privateKey, responseSignatureMessage(ts, 'n1', body));
  assert.equal(
    verifyWechatpaySignature(
      set,
      { serial: 'ABCDEF0123456789ABCDEF0123456789ABCDEF01', signature: crossed, timestamp: ts, nonce: 'n1' },
      body,
      { nowMs },
    ).ok,
    false,
  );
  assert.throws(() => parsePlatformKeyBundle(officialPublicKeyPem), /PUB_KEY_ID_/);
  assert.throws(() => parsePlatformKeyBundle(`${merchantCertPem}\n${merchantCertPem}`), /twice/);
  assert.throws(() => parsePlatformKeyBundle('nothing here'), /no CERTIFICATE/);
});
