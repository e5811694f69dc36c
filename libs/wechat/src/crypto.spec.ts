// WeChat's own published sample values: the open-data demo (WXBizDataCrypt, appId
// wx4f4bc4dec97d474b) from the mini-program "开放数据校验与解密" documentation, and the JS-SDK
// signature example from the JS-SDK documentation (附录1).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { decryptOpenData, jsapiSignature, UserDataError, verifyRawDataSignature } from './index.js';

// The samples' values, session_keys included, live in ../test/fixtures (key material stays out of src).
const fixture = <T>(name: string): T =>
  JSON.parse(readFileSync(new URL(`../test/fixtures/${name}`, import.meta.url), 'utf8')) as T;
const DEMO = fixture<{ appid: string; sessionKey: string; iv: string; encryptedData: string }>(
  'open-data-demo.json',
);

test('open data: WeChat’s demo ciphertext decrypts to its documented user, watermark checked', () => {
  const opened = decryptOpenData(DEMO.sessionKey, DEMO.encryptedData, DEMO.iv, DEMO.appid);
  assert.equal(opened.data.openId, 'oGZUI0egBJY1zhBYw2KhdUfwVJJE');
  assert.equal(opened.data.nickName, 'Band');
  assert.deepEqual(opened.watermark, { appid: DEMO.appid, timestamp: 1477314187 });
});

test('open data: another app’s watermark, a wrong key, bad base64 and bad lengths are told apart', () => {
  const reason = (fn: () => unknown) => {
    try {
      fn();
      return 'ok';
    } catch (err) {
      assert.ok(err instanceof UserDataError);
      assert.ok(
        !err.message.includes(DEMO.sessionKey.slice(0, -2)),
        'the session_key never appears in errors',
      );
      return err.reason;
    }
  };
  assert.equal(
    reason(() => decryptOpenData(DEMO.sessionKey, DEMO.encryptedData, DEMO.iv, 'wx0123456789abcdef')),
    'watermark',
  );
  assert.equal(
    reason(() => decryptOpenData('AAAAAAAAAAAAAAAAAAAAAA==', DEMO.encryptedData, DEMO.iv, DEMO.appid)),
    'decrypt',
  );
  assert.equal(
    reason(() => decryptOpenData(DEMO.sessionKey, 'not base64!', DEMO.iv, DEMO.appid)),
    'malformed',
  );
  assert.equal(
    reason(() => decryptOpenData(DEMO.sessionKey, DEMO.encryptedData, 'AAAA', DEMO.appid)),
    'malformed',
  );
  assert.equal(
    reason(() => decryptOpenData(DEMO.sessionKey, 'AAAAAAAA', DEMO.iv, DEMO.appid)),
    'malformed',
  );
});

test('raw data signature: WeChat’s documented example verifies, a changed byte does not', () => {
  const { rawData, signature, sessionKey } = fixture<{
    rawData: string;
    signature: string;
    sessionKey: string;
  }>('raw-data-signature.json');
  verifyRawDataSignature(rawData, signature, sessionKey);
  assert.throws(
    () => verifyRawDataSignature(rawData.replace('Band', 'Bond'), signature, sessionKey),
    (err: UserDataError) => err.reason === 'signature',
  );
});

test('JS-SDK signature: the documentation’s example, and the #fragment is not signed', () => {
  const input = {
    ticket: 'sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg',
    nonceStr: 'Wm3WZYTPz0wzccnW',
    timestamp: 1414587457,
    url: 'http://mp.weixin.qq.com?params=value',
  };
  assert.equal(jsapiSignature(input).signature, '0f9de62fce790f9a083d5c99e95740ceb90c27ed');
  const withFragment = jsapiSignature({ ...input, url: `${input.url}#wechat_redirect` });
  assert.equal(withFragment.signature, '0f9de62fce790f9a083d5c99e95740ceb90c27ed');
  assert.equal(withFragment.signedUrl, input.url);
});
