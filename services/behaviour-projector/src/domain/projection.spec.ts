import assert from 'node:assert/strict';
import { test } from 'node:test';
import { behaviourEvent, type BehaviourPayloadInit } from '@wxmesh/events';
import { MAX_OCCURRED_AT_MS, MIN_OCCURRED_AT_MS, PoisonEventError, project } from './projection.js';

const event = (payload: BehaviourPayloadInit, openid = 'o_user_1', at = Date.UTC(2025, 0, 31, 16, 30)) =>
  behaviourEvent({
    eventId: 'e-1',
    aggregateId: 'user:1',
    occurredAt: at,
    producer: 'test',
    wechat: { openid, appid: 'wx0123456789abcdef', unionid: 'un_1' },
    payload,
  });

test("a login counts, and puts the user in the day's funnel by China Standard Time", () => {
  const p = project(event({ case: 'userLoggedIn', value: { sessionId: 's' } }));
  assert.deepEqual(p.increments, [['logins', 1]]);
  assert.equal(p.eventType, 'user_logged_in');
  assert.equal(p.at, Date.UTC(2025, 0, 31, 16, 30));
  // 16:30 UTC on the 31st is 00:30 on 1 February in UTC+8.
  assert.deepEqual(p.funnel, { appid: 'wx0123456789abcdef', day: '2025-02-01', step: 'logged_in' });
  assert.equal(p.unionid, 'un_1');
});

test('payments and refunds add their amounts; phone and OAuth set flags', () => {
  const paid = project(event({ case: 'paymentSucceeded', value: { payerTotal: 1234, amountTotal: 1300 } }));
  assert.deepEqual(paid.increments, [
    ['ordersPaid', 1],
    ['paidTotal', 1234],
  ]);
  assert.equal(paid.funnel?.step, 'paid');
  const refund = project(event({ case: 'refundSucceeded', value: { refundAmount: 99 } }));
  assert.deepEqual(refund.increments, [
    ['refunds', 1],
    ['refundedTotal', 99],
  ]);
  assert.equal(refund.funnel, undefined);
  assert.equal(project(event({ case: 'phoneNumberBound', value: {} })).flag, 'phone');
  assert.equal(project(event({ case: 'oauthAuthorized', value: {} })).flag, 'oauth');
  const online = project(event({ case: 'userOnline', value: {} }));
  assert.deepEqual([online.increments, online.flag, online.funnel], [[], undefined, undefined]);
});

test('events the read models cannot hold are poison', () => {
  assert.throws(
    () => project(event({ case: 'paymentSucceeded', value: { payerTotal: -1 } })),
    (err: Error) => err instanceof PoisonEventError && /payer_total/.test(err.message),
  );
  assert.throws(() => project(event({ case: 'orderCreated', value: { amountTotal: -5 } })), PoisonEventError);
  assert.throws(() => project(event({ case: 'userLoggedIn', value: {} }, 'has space')), PoisonEventError);
  assert.throws(() => project(event({ case: 'userLoggedIn', value: {} }, '{tag}')), PoisonEventError);
  // A Timestamp past 9999-12-31 (valid on the wire, outside the type's documented range).
  assert.throws(
    () => project(event({ case: 'userLoggedIn', value: {} }, 'o_1', MAX_OCCURRED_AT_MS + 1)),
    (err: Error) => err instanceof PoisonEventError && /occurred_at is outside/.test(err.message),
  );
  assert.throws(
    () => project(event({ case: 'userLoggedIn', value: {} }, 'o_1', MIN_OCCURRED_AT_MS - 1)),
    PoisonEventError,
  );
  for (const at of [MIN_OCCURRED_AT_MS, -1, 0, MAX_OCCURRED_AT_MS]) {
    assert.equal(project(event({ case: 'userLoggedIn', value: {} }, 'o_1', at)).at, at);
  }
});
