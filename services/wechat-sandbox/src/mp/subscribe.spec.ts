// /cgi-bin/message/subscribe/send over HTTP: the order of WeChat's checks and every errcode path,
// one-time grants and long-term subscriptions, quotas and rate limits (on the sandbox clock), token
// revocation, per-user fault scripts, and the send log.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useTestSandbox, type Json } from './test-support.js';

const APP = { appid: 'wxsubscribe000001', secret: 'subscribe-secret' };
const OTHER = { appid: 'wxsubscribe000002', secret: 'other-secret' };
const sandbox = useTestSandbox([APP, OTHER]);

const SEND = '/cgi-bin/message/subscribe/send';
const TEMPLATE = 'tpl-order-shipped';
const KEYWORDS = ['thing1', 'amount2', 'time3', 'character_string4', 'phrase5'];
const DATA = {
  thing1: { value: '订单已发货，请留意' },
  amount2: { value: '¥29.90' },
  time3: { value: '2024-05-01 14:30' },
  character_string4: { value: 'SO-20240501-0001' },
  phrase5: { value: '已发货' },
};

async function ok(res: Promise<{ status: number; body: Json }>, status = 200) {
  const answer = await res;
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  return answer.body;
}

async function accessToken(app = APP): Promise<string> {
  const body = await ok(sandbox.get('/cgi-bin/token', { ...app, grant_type: 'client_credential' }));
  return body.access_token as string;
}

/** The app's template, and `openid` known to the app through a js_code fixture. */
async function setUp(openid = 'o-user-1', app = APP) {
  await ok(
    sandbox.post('/sandbox/mp/templates', { appid: app.appid, template_id: TEMPLATE, keywords: KEYWORDS }),
  );
  await ok(sandbox.post('/sandbox/mp/js-codes', { appid: app.appid, openid }));
  return accessToken(app);
}

function subscribe(openid: string, extra: Json = {}) {
  return ok(
    sandbox.post('/sandbox/mp/subscriptions', {
      appid: APP.appid,
      openid,
      template_id: TEMPLATE,
      kind: 'one-time',
      ...extra,
    }),
  );
}

function send(access_token: string, body: Json | string = {}) {
  const message =
    typeof body === 'string' ? body : { touser: 'o-user-1', template_id: TEMPLATE, data: DATA, ...body };
  return sandbox.post(SEND, message, { access_token });
}

const errcode = async (access_token: string, body: Json | string = {}) =>
  (await send(access_token, body)).body.errcode;

const stats = async (appid = APP.appid) =>
  (await ok(sandbox.get('/sandbox/mp/subscribe-stats', { appid }))) as {
    sent: number;
    byErrcode: Record<string, number>;
    rateLimited: number;
    byStatus: Record<string, number>;
    hung: number;
    perUser: Record<string, { sent: number; refused: number }>;
  };

test('one-time grants: each send uses one, then 43101; the log and stats show what was sent', async () => {
  const token = await setUp();
  const state = await subscribe('o-user-1', { count: 2 });
  assert.deepEqual(state.subscription, {
    appid: APP.appid,
    openid: 'o-user-1',
    template_id: TEMPLATE,
    status: 'accept',
    longTerm: false,
    oneTimeGrants: 2,
  });

  const first = await send(token, { page: 'pages/order?id=1', miniprogram_state: 'trial', lang: 'en_US' });
  assert.equal(first.status, 200);
  assert.equal(first.body.errcode, 0);
  assert.equal(first.body.errmsg, 'ok');
  assert.ok(Number.isSafeInteger(first.body.msgid));
  const second = await send(token);
  assert.equal(second.body.errcode, 0);
  assert.notEqual(second.body.msgid, first.body.msgid);

  const refused = await send(token);
  assert.equal(refused.body.errcode, 43101);
  assert.match(refused.body.errmsg as string, /^user refuse to accept the msg, rid: /);

  const messages = (await ok(
    sandbox.get('/sandbox/mp/subscribe-messages', { appid: APP.appid }),
  )) as unknown as Json[];
  assert.equal(messages.length, 2);
  const { sentAt, ...logged } = messages[0]!;
  assert.equal(typeof sentAt, 'number');
  assert.deepEqual(logged, {
    msgid: first.body.msgid,
    touser: 'o-user-1',
    template_id: TEMPLATE,
    page: 'pages/order?id=1',
    data: DATA,
    miniprogram_state: 'trial',
    lang: 'en_US',
  });
  assert.equal(messages[1]!.miniprogram_state, 'formal', 'defaulted as WeChat does');
  assert.equal(messages[1]!.lang, 'zh_CN');

  const s = await stats();
  assert.equal(s.sent, 2);
  assert.deepEqual(s.byErrcode, { 43101: 1 });
  assert.deepEqual(s.perUser, { 'o-user-1': { sent: 2, refused: 1 } });

  await subscribe('o-user-1');
  assert.equal(await errcode(token), 0, 'a new popup accept adds a grant');
  assert.equal(await errcode(token), 43101);
});

test('long-term subscriptions send until rejected; a reject also clears one-time grants', async () => {
  const token = await setUp();
  await subscribe('o-user-1', { kind: 'long-term' });
  for (let i = 0; i < 5; i++) assert.equal(await errcode(token), 0);
  await subscribe('o-user-1', { kind: 'long-term', status: 'reject' });
  assert.equal(await errcode(token), 43101);

  const grants = await subscribe('o-user-1', { count: 3 });
  assert.equal((grants.subscription as Json).oneTimeGrants, 3);
  const rejected = await subscribe('o-user-1', { status: 'reject' });
  assert.equal((rejected.subscription as Json).oneTimeGrants, 0);
  assert.equal(await errcode(token), 43101);
});

test('WeChat’s order of checks: method, token, body, user, template, data, miniprogram_state, subscription', async () => {
  const token = await setUp();
  assert.equal((await sandbox.get(SEND, { access_token: token })).body.errcode, 43002);
  assert.equal((await sandbox.post(SEND, { touser: 'x' })).body.errcode, 41001);
  assert.equal(await errcode('not a token!'), 40014);
  assert.equal(await errcode(`90_${'A'.repeat(120)}`), 40001);
  assert.equal(await errcode(token, ''), 44002);
  assert.equal(await errcode(token, '{nope'), 47001);
  assert.equal(await errcode(token, { touser: 'o-stranger' }), 40003);
  assert.equal(await errcode(token, { touser: undefined }), 40003);
  assert.equal(await errcode(token, { template_id: 'tpl-unknown' }), 40037);
  assert.equal(await errcode(token, { data: { thing1: { value: 'x' } } }), 47003, 'keywords missing');
  assert.equal(await errcode(token, { miniprogram_state: 'production' }), 47003);
  assert.equal(await errcode(token, { lang: 'fr_FR' }), 47003);
  assert.equal(await errcode(token), 43101, 'all well-formed but never subscribed');

  // Another app's token does not see this app's users or templates.
  const otherToken = await accessToken(OTHER);
  assert.equal(await errcode(otherToken), 40003);
  await ok(sandbox.post('/sandbox/mp/js-codes', { appid: OTHER.appid, openid: 'o-user-1' }));
  assert.equal(await errcode(otherToken), 40037);
});

test('data must match the template: each keyword type’s rule, named in the 47003 errmsg', async () => {
  const token = await setUp();
  await subscribe('o-user-1', { kind: 'long-term' });
  const withValue = (key: string, value: unknown) => ({ data: { ...DATA, [key]: { value } } });
  const refused = async (body: Json, culprit: string) => {
    const res = await send(token, body);
    assert.equal(res.body.errcode, 47003, `${JSON.stringify(body)} → ${JSON.stringify(res.body)}`);
    assert.match(res.body.errmsg as string, new RegExp(`^argument invalid! ${culprit}.*, rid: `));
  };
  await refused(
    withValue('thing1', '一二三四五六七八九十一二三四五六七八九十一'),
    'data\\.thing1\\.value invalid',
  );
  await refused(withValue('thing1', ''), 'data\\.thing1\\.value is empty');
  await refused(withValue('amount2', '29.90 dollars'), 'data\\.amount2\\.value invalid');
  await refused(withValue('amount2', 29.9), 'data\\.amount2\\.value invalid');
  await refused(withValue('time3', '25:00'), 'data\\.time3\\.value invalid');
  await refused(withValue('time3', '2024年5月1日'), 'data\\.time3\\.value invalid');
  await refused(withValue('character_string4', 'SO 2024 0001'), 'data\\.character_string4\\.value invalid');
  await refused(withValue('phrase5', 'shipped'), 'data\\.phrase5\\.value invalid');
  await refused(withValue('phrase5', '已经发货了呢'), 'data\\.phrase5\\.value invalid');
  await refused({ data: { ...DATA, number6: { value: '1' } } }, 'data\\.number6 not in template');
  const { phrase5: _, ...missing } = DATA;
  await refused({ data: missing }, 'data\\.phrase5\\.value is empty');

  for (const [key, value] of [
    ['thing1', '一二三四五六七八九十一二三四五六七八九十'],
    ['amount2', '100元'],
    ['amount2', '1234.5'],
    ['time3', '15:01'],
    ['time3', '2019年10月1日 15:01 ~ 2019年10月1日 18:00'],
    ['character_string4', 'ABC-123_x'],
    ['phrase5', '配送中'],
  ] as const) {
    assert.equal(await errcode(token, withValue(key, value)), 0, `${key} = ${value}`);
  }
});

test('the send API has its daily quota (45009) and a rate limit on the sandbox clock (45009, counted)', async () => {
  const token = await setUp();
  await subscribe('o-user-1', { kind: 'long-term' });
  await ok(
    sandbox.post('/sandbox/mp/rate-limits', { appid: APP.appid, api: SEND, perSecond: 1, burst: 2 }),
    204,
  );
  assert.equal(await errcode(token), 0);
  assert.equal(await errcode(token), 0);
  assert.equal(await errcode(token), 45009, 'burst used up');
  await ok(sandbox.post('/sandbox/mp/clock', { advanceMs: 1_000 }));
  assert.equal(await errcode(token), 0, 'one token refilled after a second');
  assert.equal(await errcode(token), 45009);
  const s = await stats();
  assert.equal(s.rateLimited, 2);
  assert.equal(s.byErrcode['45009'], 2);
  assert.equal(s.sent, 3);

  await ok(sandbox.post('/sandbox/mp/rate-limits', { appid: APP.appid, api: SEND, perSecond: null }), 204);
  assert.equal(await errcode(token), 0, 'null removes the limit');

  await ok(sandbox.post('/sandbox/mp/quotas', { appid: APP.appid, api: SEND, daily: 0 }), 204);
  assert.equal(await errcode(token), 45009, 'daily quota charged with the token check');
  assert.equal((await stats()).rateLimited, 2, 'a quota 45009 is not a rate-limit one');
  assert.equal((await stats()).byErrcode['45009'], 3);
});

test('revoking an app’s tokens: every one answers 40001, the next token call issues a fresh one', async () => {
  const token = await setUp();
  await subscribe('o-user-1', { kind: 'long-term' });
  const stable = (
    await ok(sandbox.post('/cgi-bin/stable_token', { grant_type: 'client_credential', ...APP }))
  ).access_token as string;
  const otherToken = await accessToken(OTHER);
  assert.equal(await errcode(token), 0);

  const revoked = await ok(sandbox.post('/sandbox/mp/tokens/revoke', { appid: APP.appid }));
  assert.equal(revoked.revoked, 2);
  assert.equal(await errcode(token), 40001);
  assert.equal(await errcode(stable), 40001);
  assert.equal(
    (await sandbox.get('/cgi-bin/ticket/getticket', { access_token: otherToken, type: 'jsapi' })).body
      .errcode,
    0,
  );

  const fresh = (await ok(sandbox.post('/cgi-bin/stable_token', { grant_type: 'client_credential', ...APP })))
    .access_token as string;
  assert.notEqual(fresh, stable);
  assert.equal(await errcode(fresh), 0);
  assert.equal(await errcode(await accessToken()), 0);
  assert.equal((await stats()).byErrcode['40001'], 2, 'refusals of the app’s tokens are counted');
});

test('per-user fault scripts: one step per send to that user, after the token check; repeat loops', async () => {
  const token = await setUp('o-user-1');
  await ok(sandbox.post('/sandbox/mp/js-codes', { appid: APP.appid, openid: 'o-user-2' }));
  await subscribe('o-user-1', { kind: 'long-term' });
  await subscribe('o-user-2', { kind: 'long-term' });
  const script = (openid: string, faults: Json[], repeat?: boolean) =>
    ok(sandbox.post('/sandbox/mp/subscribe-send/faults', { appid: APP.appid, openid, faults, repeat }), 204);

  await script('o-user-1', [{ errcode: 40001 }, { status: 503 }, { errcode: 99999 }, {}]);
  await script('o-user-2', [{ errcode: 45009 }, {}], true);
  assert.equal(await errcode('not a token!', { touser: 'o-user-1' }), 40014, 'a bad token consumes no step');
  const u1 = { touser: 'o-user-1' };
  const u2 = { touser: 'o-user-2' };
  assert.equal(await errcode(token, u1), 40001);
  assert.equal(await errcode(token, u2), 45009);
  const status = await send(token, u1);
  assert.equal(status.status, 503);
  assert.equal(status.body, undefined);
  const unknown = await send(token, u1);
  assert.equal(unknown.body.errcode, 99999);
  assert.equal(await errcode(token, u2), 0);
  assert.equal(await errcode(token, u1), 0, '{} lets the send through');
  assert.equal(await errcode(token, u1), 0, 'the script ran out');
  assert.equal(await errcode(token, u2), 45009, 'repeat starts over');
  assert.equal(await errcode(token, u2), 0);

  const s = await stats();
  assert.deepEqual(s.byErrcode, { 40001: 1, 45009: 2, 99999: 1 });
  assert.deepEqual(s.byStatus, { 503: 1 });
  assert.equal(s.rateLimited, 0, 'injected 45009s are not rate-limit ones');
  assert.deepEqual(s.perUser, { 'o-user-1': { sent: 2, refused: 0 }, 'o-user-2': { sent: 2, refused: 0 } });

  await script('o-user-2', [{ errcode: 43101 }], true);
  assert.equal((await sandbox.del('/sandbox/mp/subscribe-send/faults')).status, 204);
  assert.equal(await errcode(token, u2), 0, 'DELETE clears every script');
});

test('fault script steps can delay or hang a send', async () => {
  const token = await setUp();
  await subscribe('o-user-1', { kind: 'long-term' });
  await ok(
    sandbox.post('/sandbox/mp/subscribe-send/faults', {
      appid: APP.appid,
      openid: 'o-user-1',
      faults: [{ delayMs: 150 }, { hang: true }],
    }),
    204,
  );
  const started = Date.now();
  assert.equal(await errcode(token), 0);
  assert.ok(Date.now() - started >= 150, 'delayed, then sent');

  const url = new URL(SEND, sandbox.url);
  url.searchParams.set('access_token', token);
  const body = JSON.stringify({ touser: 'o-user-1', template_id: TEMPLATE, data: DATA });
  await assert.rejects(
    fetch(url, { method: 'POST', body, signal: AbortSignal.timeout(300) }),
    (error: Error) => error.name === 'TimeoutError',
  );
  assert.equal((await stats()).hung, 1);
  assert.equal(await errcode(token), 0, 'the next send is answered');
});

test('a send whose client hangs up during a scripted delay sends nothing and spends no grant', async () => {
  const token = await setUp();
  await subscribe('o-user-1', { count: 1 });
  await ok(
    sandbox.post('/sandbox/mp/subscribe-send/faults', {
      appid: APP.appid,
      openid: 'o-user-1',
      faults: [{ delayMs: 400 }, { delayMs: 400 }],
    }),
    204,
  );
  const url = new URL(SEND, sandbox.url);
  url.searchParams.set('access_token', token);
  const body = JSON.stringify({ touser: 'o-user-1', template_id: TEMPLATE, data: DATA });
  await assert.rejects(
    fetch(url, { method: 'POST', body, signal: AbortSignal.timeout(100) }),
    (error: Error) => error.name === 'TimeoutError',
  );
  // Delayed as long and sent later, this send finishes after the abandoned one's delay: had that
  // one gone on, it would have used the only grant and this one would get 43101.
  assert.equal(await errcode(token), 0);
  assert.equal((await stats()).sent, 1);
});

test('control API refuses bad input with the field name; reset clears the subscribe state', async () => {
  const token = await setUp();
  const bad = async (path: string, body: Json, field: string) => {
    const res = await sandbox.post(path, { appid: APP.appid, ...body });
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.match(res.body.error as string, new RegExp(`^${field}`));
  };
  await bad('/sandbox/mp/templates', { template_id: 't', keywords: ['thing1', 'colour2'] }, 'keywords');
  await bad('/sandbox/mp/templates', { template_id: 't', keywords: [] }, 'keywords');
  await bad('/sandbox/mp/templates', { appid: 'wxnobody', template_id: 't', keywords: ['thing1'] }, 'appid');
  await bad(
    '/sandbox/mp/subscriptions',
    { openid: 'o', template_id: 'nope', kind: 'one-time' },
    'template_id',
  );
  await bad('/sandbox/mp/subscriptions', { openid: 'o', template_id: TEMPLATE, kind: 'forever' }, 'kind');
  await bad(
    '/sandbox/mp/subscriptions',
    { openid: 'o', template_id: TEMPLATE, kind: 'one-time', count: 0 },
    'count',
  );
  await bad(
    '/sandbox/mp/subscribe-send/faults',
    { openid: 'o', faults: [{ errcode: 'x' }] },
    'faults\\[0\\]\\.errcode',
  );
  await bad(
    '/sandbox/mp/subscribe-send/faults',
    { openid: 'o', faults: [{ typo: 1 }] },
    'faults\\[0\\]\\.typo',
  );
  await bad('/sandbox/mp/rate-limits', { api: '/cgi-bin/token', perSecond: 1 }, 'api');
  await bad('/sandbox/mp/rate-limits', { api: SEND, perSecond: 0 }, 'perSecond');
  assert.equal((await sandbox.get('/sandbox/mp/subscribe-stats')).status, 400);

  const pushWithoutConfig = await sandbox.post('/sandbox/mp/subscriptions', {
    appid: APP.appid,
    openid: 'o-user-1',
    template_id: TEMPLATE,
    kind: 'one-time',
    push: true,
  });
  assert.equal(pushWithoutConfig.status, 409);

  await subscribe('o-user-1', { kind: 'long-term' });
  assert.equal(await errcode(token), 0);
  await ok(sandbox.post('/sandbox/mp/reset'), 204);
  assert.deepEqual(await ok(sandbox.get('/sandbox/mp/subscribe-messages', { appid: APP.appid })), []);
  assert.equal((await stats()).sent, 0);
  const fresh = await accessToken();
  assert.equal(await errcode(fresh), 40003, 'users, templates and subscriptions are gone');
});
