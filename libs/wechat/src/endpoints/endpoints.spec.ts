// The typed WeChat endpoints against answers shaped as the sandbox (and WeChat's documentation)
// gives them, and against malformed ones: every bad answer is a typed error that names the field,
// never a crash and never a secret.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createWeChatApi } from '../api-client.js';
import { WeChatApiError, WeChatMalformedAnswerError, WeChatUnavailableError } from '../errors.js';
import { getJsapiTicket, getStableAccessToken } from './credentials.js';
import { getUserPhoneNumber, jscode2session } from './mini-program.js';
import { exchangeOAuthCode, refreshOAuthAccessToken } from './oauth.js';
import { sendSubscribeMessage } from './subscribe.js';

interface SeenRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, string>;
  readonly body: unknown;
}

/** A WeChat API whose every call answers `answer` (as JSON) and records what it was asked. */
function answering(answer: unknown) {
  const seen: SeenRequest[] = [];
  const api = createWeChatApi({
    baseUrl: 'https://api.weixin.example',
    fetch: async (input, init) => {
      const url = new URL(String(input));
      seen.push({
        method: init?.method ?? 'GET',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        body: typeof init?.body === 'string' ? JSON.parse(init.body) : undefined,
      });
      return new Response(JSON.stringify(answer), { headers: { 'content-type': 'application/json' } });
    },
  });
  return { api, seen };
}

const SECRET = 'app-secret-never-shown';
const SESSION_KEY = 'tiihtNczf5v6AKRyjwEUhQ==';

test('jscode2session sends the code with the AppSecret and returns the user with full names', async () => {
  const { api, seen } = answering({ session_key: SESSION_KEY, openid: 'o-user', unionid: 'u-user' });
  const session = await jscode2session(api, { appid: 'wx1', appSecret: SECRET, jsCode: 'code-1' });
  assert.deepEqual(session, { openid: 'o-user', sessionKey: SESSION_KEY, unionid: 'u-user' });
  assert.deepEqual(seen, [
    {
      method: 'GET',
      path: '/sns/jscode2session',
      query: { appid: 'wx1', secret: SECRET, js_code: 'code-1', grant_type: 'authorization_code' },
      body: undefined,
    },
  ]);
  const { api: noUnion } = answering({ session_key: SESSION_KEY, openid: 'o-user' });
  const withoutUnion = await jscode2session(noUnion, { appid: 'wx1', appSecret: SECRET, jsCode: 'c' });
  assert.equal(withoutUnion.unionid, undefined);
});

test('a jscode2session answer without its session_key is malformed, named, and shows no value', async () => {
  const { api } = answering({ openid: 'o-user', session_key: 42 });
  await assert.rejects(jscode2session(api, { appid: 'wx1', appSecret: SECRET, jsCode: 'c' }), (err) => {
    assert.ok(err instanceof WeChatMalformedAnswerError);
    assert.ok(err instanceof WeChatUnavailableError, 'a malformed answer is an unwell WeChat');
    assert.equal(err.api, '/sns/jscode2session');
    assert.deepEqual(err.problems, ['session_key: expected string']);
    assert.doesNotMatch(err.message, /42|o-user|app-secret/);
    return true;
  });
});

test('getuserphonenumber posts the code with the access_token and returns the phone', async () => {
  const phone = { phoneNumber: '+1 2025550123', purePhoneNumber: '2025550123', countryCode: '1' };
  const { api, seen } = answering({
    errcode: 0,
    errmsg: 'ok',
    phone_info: { ...phone, watermark: { timestamp: 1_700_000_000, appid: 'wx1' } },
  });
  assert.deepEqual(await getUserPhoneNumber(api, { accessToken: 'AT', code: 'pc' }), phone);
  assert.deepEqual(seen[0], {
    method: 'POST',
    path: '/wxa/business/getuserphonenumber',
    query: { access_token: 'AT' },
    body: { code: 'pc' },
  });
  const { api: broken } = answering({ errcode: 0, errmsg: 'ok', phone_info: { phoneNumber: '+86 1' } });
  await assert.rejects(getUserPhoneNumber(broken, { accessToken: 'AT', code: 'pc' }), (err) => {
    assert.ok(err instanceof WeChatMalformedAnswerError);
    assert.deepEqual(err.problems, [
      'phone_info.purePhoneNumber: expected string',
      'phone_info.countryCode: expected string',
    ]);
    assert.doesNotMatch(err.message, /AT|\+86/);
    return true;
  });
});

test('stable_token posts the credentials in the body and returns the token and its lifetime', async () => {
  const { api, seen } = answering({ access_token: 'central-token', expires_in: 7200 });
  const token = await getStableAccessToken(api, { appid: 'wx1', appSecret: SECRET, forceRefresh: true });
  assert.deepEqual(token, { value: 'central-token', expiresInSeconds: 7200 });
  assert.deepEqual(seen[0], {
    method: 'POST',
    path: '/cgi-bin/stable_token',
    query: {},
    body: { grant_type: 'client_credential', appid: 'wx1', secret: SECRET, force_refresh: true },
  });
  const { api: broken } = answering({ access_token: 'central-token', expires_in: '7200' });
  await assert.rejects(
    getStableAccessToken(broken, { appid: 'wx1', appSecret: SECRET, forceRefresh: false }),
    (err) => {
      assert.ok(err instanceof WeChatMalformedAnswerError);
      assert.deepEqual(err.problems, ['expires_in: expected number']);
      assert.doesNotMatch(err.message, /central-token|app-secret/);
      return true;
    },
  );
});

test('getticket asks for the jsapi ticket with the access_token', async () => {
  const { api, seen } = answering({ errcode: 0, errmsg: 'ok', ticket: 'T1', expires_in: 7200 });
  assert.deepEqual(await getJsapiTicket(api, { accessToken: 'AT' }), { value: 'T1', expiresInSeconds: 7200 });
  assert.deepEqual(seen[0]?.query, { access_token: 'AT', type: 'jsapi' });
  const { api: broken } = answering({ errcode: 0, errmsg: 'ok', ticket: '', expires_in: 7200 });
  await assert.rejects(getJsapiTicket(broken, { accessToken: 'AT' }), WeChatMalformedAnswerError);
});

test('the web OAuth code exchange returns the grant with its scopes split and the snapshot flag', async () => {
  const { api, seen } = answering({
    access_token: 'user-at',
    expires_in: 7200,
    refresh_token: 'user-rt',
    openid: 'o-web',
    scope: 'snsapi_base,snsapi_userinfo',
    is_snapshotuser: 1,
    unionid: 'u-web',
  });
  assert.deepEqual(await exchangeOAuthCode(api, { appid: 'wx1', appSecret: SECRET, code: 'oc' }), {
    accessToken: 'user-at',
    expiresInSeconds: 7200,
    refreshToken: 'user-rt',
    openid: 'o-web',
    unionid: 'u-web',
    scopes: ['snsapi_base', 'snsapi_userinfo'],
    snapshotUser: true,
  });
  assert.deepEqual(seen[0]?.query, {
    appid: 'wx1',
    secret: SECRET,
    code: 'oc',
    grant_type: 'authorization_code',
  });
  const { api: broken } = answering({
    access_token: 'user-at',
    expires_in: 7200,
    openid: 'o-web',
    scope: '',
  });
  await assert.rejects(exchangeOAuthCode(broken, { appid: 'wx1', appSecret: SECRET, code: 'oc' }), (err) => {
    assert.ok(err instanceof WeChatMalformedAnswerError);
    assert.deepEqual(err.problems, ['refresh_token: expected string']);
    assert.doesNotMatch(err.message, /user-at|app-secret/);
    return true;
  });
});

test('the web OAuth refresh returns the new access token', async () => {
  const { api, seen } = answering({
    access_token: 'user-at-2',
    expires_in: 7200,
    refresh_token: 'user-rt',
    openid: 'o-web',
    scope: 'snsapi_base',
  });
  assert.deepEqual(await refreshOAuthAccessToken(api, { appid: 'wx1', refreshToken: 'user-rt' }), {
    accessToken: 'user-at-2',
    expiresInSeconds: 7200,
  });
  assert.deepEqual(seen[0]?.query, { appid: 'wx1', grant_type: 'refresh_token', refresh_token: 'user-rt' });
  const { api: broken } = answering({ expires_in: 7200 });
  await assert.rejects(
    refreshOAuthAccessToken(broken, { appid: 'wx1', refreshToken: 'user-rt' }),
    WeChatMalformedAnswerError,
  );
});

test('a subscribe message goes out in WeChat’s body shape; its receipt may be a number or a string', async () => {
  const { api, seen } = answering({ errcode: 0, errmsg: 'ok', msgid: 1_234_567 });
  const message = {
    toUser: 'o-user',
    templateId: 'tpl',
    page: '',
    data: { thing1: 'Order shipped' },
    miniprogramState: 'formal' as const,
    lang: '',
  };
  assert.deepEqual(await sendSubscribeMessage(api, { accessToken: 'AT', message }), { msgid: '1234567' });
  assert.deepEqual(seen[0], {
    method: 'POST',
    path: '/cgi-bin/message/subscribe/send',
    query: { access_token: 'AT' },
    body: {
      touser: 'o-user',
      template_id: 'tpl',
      data: { thing1: { value: 'Order shipped' } },
      miniprogram_state: 'formal',
      lang: 'zh_CN',
    },
  });
  const { api: stringReceipt } = answering({ errcode: 0, errmsg: 'ok', msgid: '9007199254740993' });
  const sent = await sendSubscribeMessage(stringReceipt, {
    accessToken: 'AT',
    message: { ...message, page: 'p/i' },
  });
  assert.equal(sent.msgid, '9007199254740993');
  const { api: broken } = answering({ errcode: 0, errmsg: 'ok', msgid: { id: 1 } });
  await assert.rejects(
    sendSubscribeMessage(broken, { accessToken: 'AT', message }),
    WeChatMalformedAnswerError,
  );
});

test('a body that is not a JSON object is malformed at the client, not a TypeError', async () => {
  for (const body of [null, [1, 2], 'text', 7]) {
    const { api } = answering(body);
    await assert.rejects(jscode2session(api, { appid: 'wx1', appSecret: SECRET, jsCode: 'c' }), (err) => {
      assert.ok(err instanceof WeChatMalformedAnswerError, `body ${JSON.stringify(body)}`);
      assert.deepEqual(err.problems, ['(body): expected object']);
      return true;
    });
  }
});

test('errcodes become WeChatApiErrors with a kind, whatever the endpoint', async () => {
  const cases: [number, string][] = [
    [40029, 'invalid-code'],
    [40163, 'code-used'],
    [40001, 'token-invalid'],
    [42001, 'token-invalid'],
    [40014, 'token-invalid'],
    [45009, 'quota-exhausted'],
    [45011, 'too-frequent'],
    [-1, 'system-busy'],
    [40030, 'refresh-token-invalid'],
    [43101, 'no-subscription'],
    [61234, 'other'],
  ];
  for (const [errcode, kind] of cases) {
    const { api } = answering({ errcode, errmsg: `errmsg ${errcode}, rid: r` });
    await assert.rejects(getJsapiTicket(api, { accessToken: 'secret-access-token' }), (err) => {
      assert.ok(err instanceof WeChatApiError);
      assert.equal(err.errcode, errcode);
      assert.equal(err.kind, kind);
      assert.equal(err.isTokenError, kind === 'token-invalid');
      assert.doesNotMatch(err.message, /secret-access-token/);
      return true;
    });
  }
});
