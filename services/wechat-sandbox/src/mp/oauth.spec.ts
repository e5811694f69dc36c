// Web OAuth2 (/sns/oauth2/access_token and refresh_token) and the control API's validation.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DAY, useTestSandbox } from './test-support.js';

const APP = { appid: 'wxoauth0000000001', secret: 'oauth-secret' };
const OTHER = { appid: 'wxoauth0000000002', secret: 'other-secret' };
const sandbox = useTestSandbox([APP, OTHER]);

async function oauthCode(fixture: Record<string, unknown> = {}): Promise<string> {
  const res = await sandbox.post('/sandbox/mp/oauth-codes', {
    appid: APP.appid,
    openid: 'o-web-1',
    ...fixture,
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.code as string;
}
const exchange = (code: string, app = APP) =>
  sandbox.get('/sns/oauth2/access_token', { ...app, code, grant_type: 'authorization_code' });
const refresh = (refresh_token: string, appid = APP.appid) =>
  sandbox.get('/sns/oauth2/refresh_token', { appid, grant_type: 'refresh_token', refresh_token });

test('an OAuth code is exchanged once for access_token, refresh_token, openid and scope', async () => {
  const code = await oauthCode({ scope: 'snsapi_userinfo', unionid: 'u-web-1', is_snapshotuser: 1 });
  const res = await exchange(code);
  assert.equal(res.status, 200);
  assert.equal(res.body.expires_in, 7200);
  assert.equal(res.body.openid, 'o-web-1');
  assert.equal(res.body.scope, 'snsapi_userinfo');
  assert.equal(res.body.unionid, 'u-web-1');
  assert.equal(res.body.is_snapshotuser, 1);
  assert.equal(typeof res.body.access_token, 'string');
  assert.equal(typeof res.body.refresh_token, 'string');

  assert.equal((await exchange(code)).body.errcode, 40163);
  assert.equal((await exchange('unknown')).body.errcode, 40029);
  const plain = await exchange(await oauthCode());
  assert.deepEqual(Object.keys(plain.body).sort(), [
    'access_token',
    'expires_in',
    'openid',
    'refresh_token',
    'scope',
  ]);
  assert.equal(plain.body.scope, 'snsapi_base');
  assert.equal((await exchange(await oauthCode(), { ...APP, secret: 'wrong' })).body.errcode, 40125);
  assert.equal((await exchange(await oauthCode(), OTHER)).body.errcode, 40029, 'a code belongs to its app');
});

test('refresh_token: new access_token, the same refresh_token, 40030 unknown, 42002 after 30 days', async () => {
  const first = (await exchange(await oauthCode({ scope: 'snsapi_userinfo' }))).body;
  const rt = first.refresh_token as string;

  const r1 = await refresh(rt);
  assert.equal(r1.body.refresh_token, rt, 'WeChat does not rotate the refresh_token');
  assert.notEqual(r1.body.access_token, first.access_token);
  assert.equal(r1.body.openid, 'o-web-1');
  assert.equal(r1.body.scope, 'snsapi_userinfo');
  assert.equal(r1.body.expires_in, 7200);
  const r2 = await refresh(rt);
  assert.equal(r2.body.refresh_token, rt, 'and it can be used again');

  assert.equal((await refresh('unknown-refresh-token')).body.errcode, 40030);
  assert.equal(
    (await refresh(rt, OTHER.appid)).body.errcode,
    40030,
    'another app’s refresh_token is invalid',
  );
  assert.equal((await refresh(rt, 'wxnobody')).body.errcode, 40013);
  assert.equal((await refresh('')).body.errcode, 41003);
  const wrongGrant = await sandbox.get('/sns/oauth2/refresh_token', {
    appid: APP.appid,
    grant_type: 'authorization_code',
    refresh_token: rt,
  });
  assert.equal(wrongGrant.body.errcode, 40002);

  await sandbox.post('/sandbox/mp/clock', { advanceMs: 30 * DAY - 1000 });
  assert.equal((await refresh(rt)).body.refresh_token, rt);
  await sandbox.post('/sandbox/mp/clock', { advanceMs: 1000 });
  assert.equal((await refresh(rt)).body.errcode, 42002);

  const counters = (await sandbox.get('/sandbox/mp/counters')).body[APP.appid] as Record<string, number>;
  assert.equal(counters.oauthTokensIssued, 1);
  assert.equal(counters.oauthRefreshes, 3);
});

test('the control API refuses bad fixtures with 400 naming the field', async () => {
  const bad = async (path: string, body: unknown, field: string) => {
    const res = await sandbox.post(path, body);
    assert.equal(res.status, 400, `${path} ${JSON.stringify(body)}`);
    assert.match(res.body.error as string, new RegExp(`^${field}:`));
  };
  await bad('/sandbox/mp/apps', { appid: 'wx1' }, 'secret');
  await bad('/sandbox/mp/apps', 'not json', 'body');
  await bad('/sandbox/mp/js-codes', { appid: 'wxnobody', openid: 'o' }, 'appid');
  await bad('/sandbox/mp/js-codes', { appid: APP.appid }, 'openid');
  await bad(
    '/sandbox/mp/js-codes',
    { appid: APP.appid, openid: 'o', session_key: 'c2hvcnQ=' },
    'session_key',
  );
  await bad('/sandbox/mp/phone-codes', { appid: APP.appid }, 'purePhoneNumber');
  await bad(
    '/sandbox/mp/oauth-codes',
    { appid: APP.appid, openid: 'o', is_snapshotuser: true },
    'is_snapshotuser',
  );
  await bad('/sandbox/mp/quotas', { appid: APP.appid, api: '/cgi-bin/nope', daily: 1 }, 'api');
  await bad('/sandbox/mp/quotas', { appid: APP.appid, api: '/cgi-bin/token', daily: -1 }, 'daily');
  await bad('/sandbox/mp/clock', { advanceMs: -5 }, 'advanceMs');
  await bad('/sandbox/mp/user-data', { appid: APP.appid, openid: 'o', data: [] }, 'data');
  await bad(
    '/sandbox/mp/jsapi/verify',
    { appid: APP.appid, url: 'https://x', noncestr: 'n', signature: 's' },
    'timestamp',
  );

  const given = await sandbox.post('/sandbox/mp/js-codes', {
    appid: APP.appid,
    js_code: 'my-code',
    openid: 'o-1',
    session_key: 'AAAAAAAAAAAAAAAAAAAAAA==',
  });
  assert.deepEqual(given.body, {
    appid: APP.appid,
    js_code: 'my-code',
    openid: 'o-1',
    session_key: 'AAAAAAAAAAAAAAAAAAAAAA==',
  });
});
