// jscode2session, checksession, getuserphonenumber and the WeChat client's encrypted user data,
// over HTTP against the sandbox's mini-program side.
import assert from 'node:assert/strict';
import { createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { MINUTE, useTestSandbox } from './test-support.js';

const APP = { appid: 'wxlogin0000000001', secret: 'login-secret' };
const OTHER = { appid: 'wxlogin0000000002', secret: 'other-secret' };
const sandbox = useTestSandbox([APP, OTHER]);

async function jsCode(fixture: Record<string, unknown>) {
  const res = await sandbox.post('/sandbox/mp/js-codes', { appid: APP.appid, ...fixture });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body as { js_code: string; openid: string; session_key: string; unionid?: string };
}

function code2Session(js_code: string, app = APP, extra: Record<string, string> = {}) {
  return sandbox.get('/sns/jscode2session', {
    appid: app.appid,
    secret: app.secret,
    js_code,
    grant_type: 'authorization_code',
    ...extra,
  });
}

async function accessToken(app = APP): Promise<string> {
  const res = await sandbox.get('/cgi-bin/token', { ...app, grant_type: 'client_credential' });
  assert.equal(typeof res.body.access_token, 'string', JSON.stringify(res.body));
  return res.body.access_token as string;
}

test('jscode2session answers the fixture once, then 40163; unknown codes get 40029', async () => {
  const fixture = await jsCode({ openid: 'o-user-1', unionid: 'u-user-1' });
  assert.match(fixture.session_key, /^[A-Za-z0-9+/]{22}==$/);

  const first = await code2Session(fixture.js_code);
  assert.equal(first.status, 200);
  assert.deepEqual(first.body, { session_key: fixture.session_key, openid: 'o-user-1', unionid: 'u-user-1' });

  const again = await code2Session(fixture.js_code);
  assert.equal(again.status, 200, 'WeChat answers errors with HTTP 200');
  assert.equal(again.body.errcode, 40163);
  assert.match(again.body.errmsg as string, /^code been used, rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$/);

  assert.equal((await code2Session('never-registered')).body.errcode, 40029);
  const noUnion = await jsCode({ openid: 'o-user-2' });
  assert.deepEqual(Object.keys((await code2Session(noUnion.js_code)).body).sort(), ['openid', 'session_key']);
});

test('jscode2session checks the app: 40013 unknown appid, 40125 wrong secret, 40029 for another app’s code', async () => {
  const fixture = await jsCode({ openid: 'o-user-3' });
  assert.equal(
    (await code2Session(fixture.js_code, { appid: 'wxunknown', secret: 'x' })).body.errcode,
    40013,
  );
  assert.equal((await code2Session(fixture.js_code, { ...APP, secret: 'wrong' })).body.errcode, 40125);
  assert.equal((await code2Session(fixture.js_code, OTHER)).body.errcode, 40029);
  assert.equal((await code2Session('', APP)).body.errcode, 41008);
  assert.equal(
    (await code2Session(fixture.js_code, APP, { grant_type: 'client_credential' })).body.errcode,
    40002,
  );
  // None of the refusals used the code up.
  assert.equal((await code2Session(fixture.js_code)).body.openid, 'o-user-3');
});

test('a js_code expires five minutes after it was handed out', async () => {
  const early = await jsCode({ openid: 'o-user-4' });
  const late = await jsCode({ openid: 'o-user-4' });
  await sandbox.post('/sandbox/mp/clock', { advanceMs: 5 * MINUTE - 1000 });
  assert.equal((await code2Session(early.js_code)).body.openid, 'o-user-4');
  await sandbox.post('/sandbox/mp/clock', { advanceMs: 1000 });
  assert.equal((await code2Session(late.js_code)).body.errcode, 40029);
});

test('checksession accepts hmac_sha256("", current session_key) and refuses anything else with 87009', async () => {
  const first = await jsCode({ openid: 'o-user-5' });
  await code2Session(first.js_code);
  const token = await accessToken();
  const sign = (key: string) => createHmac('sha256', key).update('').digest('hex');
  const check = (signature: string, openid = 'o-user-5', sig_method = 'hmac_sha256', access_token = token) =>
    sandbox.get('/wxa/checksession', { access_token, signature, openid, sig_method });

  assert.deepEqual((await check(sign(first.session_key))).body, { errcode: 0, errmsg: 'ok' });
  assert.equal((await check(sign(randomBytes(16).toString('base64')))).body.errcode, 87009);
  assert.equal((await check(sign(first.session_key), 'o-nobody')).body.errcode, 87009);
  assert.equal((await check(sign(first.session_key), 'o-user-5', 'md5')).body.errcode, 87009);
  assert.equal(
    (await check(sign(first.session_key), 'o-user-5', 'hmac_sha256', 'garbage!')).body.errcode,
    40014,
  );

  // A second login replaces the session_key; the old one no longer verifies.
  const second = await jsCode({ openid: 'o-user-5' });
  await code2Session(second.js_code);
  assert.notEqual(second.session_key, first.session_key);
  assert.equal((await check(sign(first.session_key))).body.errcode, 87009);
  assert.equal((await check(sign(second.session_key))).body.errcode, 0);
});

test('getuserphonenumber answers a phone code once with phone_info and the app watermark', async () => {
  const registered = await sandbox.post('/sandbox/mp/phone-codes', {
    appid: APP.appid,
    purePhoneNumber: '13800138000',
  });
  assert.equal(registered.status, 200);
  const { code } = registered.body as { code: string };
  const registeredAt = Math.floor(((await sandbox.get('/sandbox/mp/clock')).body.now as number) / 1000);
  const token = await accessToken();
  const phone = (access_token: string, body: unknown) =>
    sandbox.post('/wxa/business/getuserphonenumber', body, { access_token });

  const res = await phone(token, { code });
  assert.equal(res.body.errcode, 0);
  assert.equal(res.body.errmsg, 'ok');
  const info = res.body.phone_info as { watermark: { timestamp: number; appid: string } } & Record<
    string,
    unknown
  >;
  assert.equal(info.phoneNumber, '13800138000');
  assert.equal(info.purePhoneNumber, '13800138000');
  assert.equal(info.countryCode, '86');
  assert.equal(info.watermark.appid, APP.appid);
  assert.ok(Math.abs(info.watermark.timestamp - registeredAt) <= 1);

  assert.equal((await phone(token, { code })).body.errcode, 40029, 'phone codes are single-use');
  assert.equal((await phone(token, { code: 'unknown' })).body.errcode, 40029);
  assert.equal((await phone(await accessToken(OTHER), { code: 'unknown' })).body.errcode, 40029);
  assert.equal((await phone('', { code })).body.errcode, 41001);
  assert.equal((await phone('not a token', {})).body.errcode, 40014, 'the token is checked before the body');
  assert.equal((await phone(token, 'not json')).body.errcode, 47001);
  assert.equal((await phone(token, '')).body.errcode, 44002);
  assert.equal(
    (await sandbox.get('/wxa/business/getuserphonenumber', { access_token: token })).body.errcode,
    43002,
  );

  const foreign = await sandbox.post('/sandbox/mp/phone-codes', {
    appid: APP.appid,
    purePhoneNumber: '2025550123',
    countryCode: '1',
  });
  const foreignInfo = (await phone(token, { code: foreign.body.code })).body.phone_info as Record<
    string,
    unknown
  >;
  assert.equal(foreignInfo.phoneNumber, '+12025550123');
  assert.equal(foreignInfo.countryCode, '1');
});

test('user-data control: encrypted with the current session_key, watermarked, signed sha1(rawData + session_key)', async () => {
  const none = await sandbox.post('/sandbox/mp/user-data', {
    appid: APP.appid,
    openid: 'o-user-6',
    data: {},
  });
  assert.equal(none.status, 409, 'no session yet');

  const fixture = await jsCode({ openid: 'o-user-6' });
  await code2Session(fixture.js_code);
  const data = { nickName: '微信用户', gender: 0 };
  const res = await sandbox.post('/sandbox/mp/user-data', { appid: APP.appid, openid: 'o-user-6', data });
  assert.equal(res.status, 200);
  const sealed = res.body as { encryptedData: string; iv: string; rawData: string; signature: string };
  assert.equal(sealed.rawData, JSON.stringify(data));
  assert.equal(
    sealed.signature,
    createHash('sha1')
      .update(sealed.rawData + fixture.session_key)
      .digest('hex'),
  );
  const decipher = createDecipheriv(
    'aes-128-cbc',
    Buffer.from(fixture.session_key, 'base64'),
    Buffer.from(sealed.iv, 'base64'),
  );
  const plain = JSON.parse(
    Buffer.concat([decipher.update(Buffer.from(sealed.encryptedData, 'base64')), decipher.final()]).toString(
      'utf8',
    ),
  ) as Record<string, unknown> & { watermark: { appid: string; timestamp: number } };
  assert.equal(plain.nickName, '微信用户');
  assert.equal(plain.watermark.appid, APP.appid);

  const spoofed = await sandbox.post('/sandbox/mp/user-data', {
    appid: APP.appid,
    openid: 'o-user-6',
    data,
    watermarkAppid: OTHER.appid,
  });
  const d2 = createDecipheriv(
    'aes-128-cbc',
    Buffer.from(fixture.session_key, 'base64'),
    Buffer.from(spoofed.body.iv as string, 'base64'),
  );
  const plain2 = JSON.parse(
    Buffer.concat([
      d2.update(Buffer.from(spoofed.body.encryptedData as string, 'base64')),
      d2.final(),
    ]).toString(),
  ) as { watermark: { appid: string } };
  assert.equal(plain2.watermark.appid, OTHER.appid);
});
