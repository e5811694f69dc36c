import assert from 'node:assert/strict';
import { test } from 'node:test';
import { actedUnder, oauthAuthorized, phoneNumberBound, userLoggedIn } from './behaviour-events.js';

const user = { appid: 'wx1', openid: 'o1', unionid: 'u1' };

test('UserLoggedIn is keyed by the user and identified by the session', () => {
  assert.deepEqual(userLoggedIn(user, 's1', 5), {
    eventId: 'login:s1',
    aggregateId: 'user:o1',
    occurredAt: 5,
    producer: 'auth-verify',
    wechat: { openid: 'o1', appid: 'wx1', unionid: 'u1' },
    payload: { case: 'userLoggedIn', value: { sessionId: 's1' } },
  });
  assert.equal('unionid' in userLoggedIn({ ...user, unionid: '' }, 's1', 5).wechat, false);
  assert.equal('unionid' in userLoggedIn({ ...user, unionid: undefined }, 's1', 5).wechat, false);
});

test('PhoneNumberBound has a stable id per code that does not reveal the code, and the country code only', () => {
  const actor = { openid: 'o1', appid: 'wx1' };
  const first = phoneNumberBound(actor, 'phone-code-1', '86', 5);
  assert.equal(first.eventId, phoneNumberBound(actor, 'phone-code-1', '86', 9).eventId);
  assert.notEqual(first.eventId, phoneNumberBound(actor, 'phone-code-2', '86', 5).eventId);
  assert.notEqual(
    first.eventId,
    phoneNumberBound({ ...actor, appid: 'wx2' }, 'phone-code-1', '86', 5).eventId,
  );
  assert.match(first.eventId, /^phone:[\w-]{32}$/);
  assert.doesNotMatch(first.eventId, /phone-code/);
  assert.deepEqual(first.payload, { case: 'phoneNumberBound', value: { countryCode: '86' } });
  assert.equal(first.aggregateId, 'user:o1');
});

test('OAuthAuthorized is identified by the refresh chain and carries the scopes', () => {
  const event = oauthAuthorized(user, 'chain1', { scopes: ['snsapi_base'], snapshotUser: true }, 5);
  assert.equal(event.eventId, 'oauth:chain1');
  assert.deepEqual(event.payload, {
    case: 'oauthAuthorized',
    value: { scopes: ['snsapi_base'], snapshotUser: true },
  });
});

test('an action is recorded under the session’s app and openid, the caller’s unionid first', () => {
  const caller = { openid: 'o1', source: 'wx_client', unionid: 'u-gateway' };
  assert.deepEqual(actedUnder(caller, user), {
    openid: 'o1',
    appid: 'wx1',
    unionid: 'u-gateway',
    source: 'wx_client',
  });
  assert.equal(actedUnder({ openid: 'o1' }, user).unionid, 'u1');
  assert.equal(actedUnder({ openid: 'o1' }, { ...user, unionid: '' }).unionid, undefined);
});
