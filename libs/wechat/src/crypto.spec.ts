// WeChat's own published sample values: the open-data demo (WXBizDataCrypt, appId
// wx4f4bc4dec97d474b) from the mini-program "开放数据校验与解密" documentation, and the JS-SDK
// signature example from the JS-SDK documentation (附录1).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decryptOpenData, jsapiSignature, UserDataError, verifyRawDataSignature } from './index.js';

const DEMO = {
  appid: 'wx4f4bc4dec97d474b',
  sessionKey: 'tiihtNczf5v6AKRyjwEUhQ==',
  iv: 'r7BXXKkLb8qrSNn05n0qiA==',
  encryptedData:
    'CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew==',
};

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
      assert.doesNotMatch(err.message, /tiihtNczf5v6AKRyjwEUhQ/, 'the session_key never appears in errors');
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
  const rawData =
    '{"nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/1vZvI39NWFQ9XM4LtQpFrQJ1xlgZxx3w7bQxKARol6503Iuswjjn6nIGBiaycAjAtpujxyzYsrztuuICqIM5ibXQ/0"}';
  const signature = '75e81ceda165f4ffa64f4068af58c64b8f54b88c';
  const sessionKey = 'HyVFkGl5F5OQWJZZaNzBBg==';
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
