// access_token, stable_token, quotas, counters and the jsapi_ticket, over HTTP, with the sandbox's
// clock advanced through its control API instead of waiting.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { DAY, HOUR, MINUTE, useTestSandbox } from './test-support.js';

const APP = { appid: 'wxtoken0000000001', secret: 'token-secret' };
const OTHER = { appid: 'wxtoken0000000002', secret: 'other-secret' };
const sandbox = useTestSandbox([APP, OTHER]);

const advance = async (ms: number) => {
  const res = await sandbox.post('/sandbox/mp/clock', { advanceMs: ms });
  assert.equal(res.status, 200);
};

/**
 * Moves the sandbox clock to 01:00 China time (WeChat's quota day) of the next day, so a test
 * that counts a daily allowance over simulated minutes cannot straddle midnight: run at 23:50
 * CST, the force_refresh test's count was reset halfway through.
 */
const toEarlyQuotaDay = async () => {
  const { now } = (await sandbox.get('/sandbox/mp/clock')).body as { now: number };
  await advance(DAY - ((now + 8 * HOUR) % DAY) + HOUR);
};

const token = (app = APP) => sandbox.get('/cgi-bin/token', { ...app, grant_type: 'client_credential' });
const stable = (body: Record<string, unknown> = {}, app = APP) =>
  sandbox.post('/cgi-bin/stable_token', { grant_type: 'client_credential', ...app, ...body });
/** An API taking ?access_token=: its errcode (0 when the token was accepted). */
const probe = async (access_token: string) =>
  (await sandbox.get('/cgi-bin/ticket/getticket', { access_token, type: 'jsapi' })).body.errcode;

test('/cgi-bin/token issues a new 7200 s token on every call; the previous one works five more minutes', async () => {
  const first = await token();
  assert.deepEqual(Object.keys(first.body).sort(), ['access_token', 'expires_in']);
  assert.equal(first.body.expires_in, 7200);
  const a = first.body.access_token as string;
  await advance(HOUR);
  const b = (await token()).body.access_token as string;
  assert.notEqual(a, b);
  assert.equal(await probe(a), 0);
  await advance(5 * MINUTE - 1000);
  assert.equal(await probe(a), 0, 'old token still valid within the five-minute overlap');
  await advance(1000);
  assert.equal(await probe(a), 40001, 'a replaced token is "invalid or not latest"');
  assert.equal(await probe(b), 0);
  await advance(7200_000 - 5 * MINUTE);
  assert.equal(await probe(b), 42001, 'a token past its 7200 s is expired');
});

test('token checks: 41001 missing, 40014 malformed, 40001 unknown, 42001 expired', async () => {
  assert.equal(await probe(''), 41001);
  assert.equal(await probe('not a token!'), 40014);
  assert.equal(await probe('short'), 40014);
  assert.equal(await probe(`90_${'A'.repeat(120)}`), 40001);
  const a = (await token()).body.access_token as string;
  await advance(7200_000 - 1000);
  assert.equal(await probe(a), 0);
  await advance(1000);
  assert.equal(await probe(a), 42001);
});

test('/cgi-bin/token refuses bad credentials: 40013, 40125, 40002, 41002, 41004', async () => {
  assert.equal((await token({ appid: 'wxnobody', secret: 's' })).body.errcode, 40013);
  assert.equal((await token({ ...APP, secret: 'wrong' })).body.errcode, 40125);
  assert.equal((await sandbox.get('/cgi-bin/token', { ...APP, grant_type: 'x' })).body.errcode, 40002);
  assert.equal(
    (await sandbox.get('/cgi-bin/token', { grant_type: 'client_credential' })).body.errcode,
    41002,
  );
  const noSecret = await sandbox.get('/cgi-bin/token', { appid: APP.appid, grant_type: 'client_credential' });
  assert.equal(noSecret.body.errcode, 41004);
});

test('stable_token normal mode returns the same token with its remaining life, renewing in the last five minutes', async () => {
  const first = await stable();
  const a = first.body.access_token as string;
  assert.equal(first.body.expires_in, 7200);
  await advance(HOUR);
  const same = await stable({ force_refresh: false });
  assert.equal(same.body.access_token, a);
  const left = same.body.expires_in as number;
  assert.ok(left <= 3600 && left >= 3595, `remaining life, got ${left}`);

  // Isolated from /cgi-bin/token: a plain token fetch changes nothing here.
  await token();
  assert.equal((await stable()).body.access_token, a);
  assert.equal(await probe(a), 0);

  await advance(HOUR - 5 * MINUTE - 1000);
  assert.equal((await stable()).body.access_token, a, 'still more than five minutes left');
  await advance(1000);
  const renewed = await stable();
  const b = renewed.body.access_token as string;
  assert.notEqual(b, a, 'renewed in the last five minutes: expires_in is never below 300');
  assert.equal(renewed.body.expires_in, 7200);
  assert.equal(await probe(a), 0, 'the old token runs out on its own');
  await advance(5 * MINUTE);
  assert.equal(await probe(a), 42001);
  assert.equal(await probe(b), 0);

  const counters = (await sandbox.get('/sandbox/mp/counters')).body[APP.appid] as Record<string, number>;
  assert.equal(counters.stableTokensIssued, 2);
  assert.equal(counters.accessTokensIssued, 1);
});

test('stable_token force_refresh: new token, old one five more minutes, 30 s apart, 20 a day then 45009', async () => {
  await toEarlyQuotaDay();
  const a = (await stable()).body.access_token as string;
  const forced = await stable({ force_refresh: true });
  const b = forced.body.access_token as string;
  assert.notEqual(b, a);
  assert.equal(forced.body.expires_in, 7200);
  assert.equal((await stable()).body.access_token, b, 'normal mode now returns the new token');

  await advance(20_000);
  assert.equal((await stable({ force_refresh: true })).body.access_token, b, 'within 30 s: not refreshed');
  await advance(10_000);
  const c = (await stable({ force_refresh: true })).body.access_token as string;
  assert.notEqual(c, b);
  assert.equal(await probe(a), 0, 'old token inside its five minutes');
  await advance(5 * MINUTE - 30_000);
  assert.equal(await probe(a), 40001);
  assert.equal(await probe(b), 0, 'b was replaced 4.5 minutes ago');

  // 3 forced calls so far today; 17 more are allowed, the 21st gets 45009.
  for (let i = 0; i < 17; i++) {
    await advance(30_000);
    assert.equal(typeof (await stable({ force_refresh: true })).body.access_token, 'string');
  }
  await advance(30_000);
  assert.equal((await stable({ force_refresh: true })).body.errcode, 45009);
  assert.equal(typeof (await stable()).body.access_token, 'string', 'normal mode is unaffected');
  assert.equal((await stable({ force_refresh: true }, OTHER)).body.access_token !== undefined, true);

  await advance(DAY);
  assert.equal(typeof (await stable({ force_refresh: true })).body.access_token, 'string', 'a new day');
});

test('stable_token refuses malformed requests as WeChat does', async () => {
  assert.equal((await sandbox.post('/cgi-bin/stable_token', '')).body.errcode, 44002);
  assert.equal((await sandbox.post('/cgi-bin/stable_token', '{nope')).body.errcode, 47001);
  assert.equal((await stable({ force_refresh: 'true' })).body.errcode, 47001);
  assert.equal((await stable({ grant_type: 'authorization_code' })).body.errcode, 40002);
  assert.equal((await stable({ secret: 'wrong' })).body.errcode, 40125);
  assert.equal((await stable({ appid: 'wxnobody' })).body.errcode, 40013);
  assert.equal((await sandbox.get('/cgi-bin/stable_token')).body.errcode, 43002);
});

test('daily quota per app per API: 45009 past the limit, other apps and APIs unaffected, reset at CST midnight', async () => {
  await toEarlyQuotaDay();
  const set = await sandbox.post('/sandbox/mp/quotas', { appid: APP.appid, api: '/cgi-bin/token', daily: 2 });
  assert.equal(set.status, 204);
  assert.ok((await token()).body.access_token);
  const second = (await token()).body.access_token as string;
  const refused = await token();
  assert.equal(refused.body.errcode, 45009);
  assert.match(refused.body.errmsg as string, /^reach max api daily quota limit/);
  assert.ok((await token(OTHER)).body.access_token, 'another app has its own quota');
  assert.ok((await stable()).body.access_token, 'another API has its own quota');
  assert.equal(await probe(second), 0, 'a refused fetch does not invalidate the current token');

  const { now } = (await sandbox.get('/sandbox/mp/clock')).body as { now: number };
  const cstMidnight = (Math.floor((now + 8 * HOUR) / DAY) + 1) * DAY - 8 * HOUR;
  await advance(cstMidnight - now - 1000);
  assert.equal((await token()).body.errcode, 45009, 'still the same day in China');
  await advance(1000);
  assert.ok((await token()).body.access_token, 'the quota resets at midnight UTC+8');

  await sandbox.post('/sandbox/mp/quotas', { appid: APP.appid, api: '/cgi-bin/token', daily: 0 });
  assert.equal((await token()).body.errcode, 45009);
  await sandbox.post('/sandbox/mp/quotas', { appid: APP.appid, api: '/cgi-bin/token', daily: null });
  assert.ok((await token()).body.access_token, 'null restores the default');

  const t = (await token()).body.access_token as string;
  await sandbox.post('/sandbox/mp/quotas', { appid: APP.appid, api: '/cgi-bin/ticket/getticket', daily: 1 });
  assert.equal(await probe(t), 0);
  assert.equal(await probe(t), 45009, 'APIs taking access_token are charged to the token’s app');
});

test('counters count what was issued per app; DELETE clears them; reset restores the configured apps only', async () => {
  await token();
  await token();
  await token(OTHER);
  await stable();
  await stable();
  const counters = (await sandbox.get('/sandbox/mp/counters')).body as Record<string, Record<string, number>>;
  assert.equal(counters[APP.appid]!.accessTokensIssued, 2);
  assert.equal(counters[APP.appid]!.stableTokensIssued, 1);
  assert.equal(counters[OTHER.appid]!.accessTokensIssued, 1);
  assert.equal((await sandbox.del('/sandbox/mp/counters')).status, 204);
  assert.deepEqual((await sandbox.get('/sandbox/mp/counters')).body, {});

  const extra = { appid: 'wxextra', secret: 'extra-secret' };
  assert.equal((await sandbox.post('/sandbox/mp/apps', extra)).status, 204);
  assert.ok((await token(extra)).body.access_token);
  await sandbox.post('/sandbox/mp/reset');
  assert.equal((await token(extra)).body.errcode, 40013, 'apps registered at run time are gone');
  assert.ok((await token()).body.access_token, 'configured apps survive a reset');
});

test('getticket issues a jsapi_ticket; /sandbox/mp/jsapi/verify checks JS-SDK signatures against live tickets', async () => {
  const access_token = (await token()).body.access_token as string;
  const res = await sandbox.get('/cgi-bin/ticket/getticket', { access_token, type: 'jsapi' });
  assert.equal(res.body.errcode, 0);
  assert.equal(res.body.errmsg, 'ok');
  assert.equal(res.body.expires_in, 7200);
  const ticket = res.body.ticket as string;
  assert.equal(
    (await sandbox.get('/cgi-bin/ticket/getticket', { access_token, type: 'nope' })).body.errcode,
    40097,
  );

  const page = 'https://mp.example.com/page?x=1';
  const sign = (t: string, url = page) =>
    createHash('sha1')
      .update(`jsapi_ticket=${t}&noncestr=Wm3WZYTPz0wzccnW&timestamp=1414587457&url=${url}`)
      .digest('hex');
  const verify = (signature: string, url = `${page}#section`) =>
    sandbox.post('/sandbox/mp/jsapi/verify', {
      appid: APP.appid,
      url,
      noncestr: 'Wm3WZYTPz0wzccnW',
      timestamp: 1414587457,
      signature,
    });
  assert.deepEqual(
    (await verify(sign(ticket))).body,
    { valid: true },
    'the page URL is checked without its #fragment',
  );
  assert.deepEqual((await verify(sign(ticket, `${page}#section`))).body, { valid: false });
  assert.deepEqual((await verify(sign('another-ticket'))).body, { valid: false });

  const next = (await sandbox.get('/cgi-bin/ticket/getticket', { access_token, type: 'jsapi' })).body
    .ticket as string;
  assert.notEqual(next, ticket);
  await advance(5 * MINUTE);
  assert.deepEqual(
    (await verify(sign(ticket))).body,
    { valid: false },
    'the replaced ticket is gone after five minutes',
  );
  assert.deepEqual((await verify(sign(next))).body, { valid: true });
  const counters = (await sandbox.get('/sandbox/mp/counters')).body[APP.appid] as Record<string, number>;
  assert.equal(counters.jsapiTicketsIssued, 2);
});
