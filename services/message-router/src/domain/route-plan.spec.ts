import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deliveryIdFor } from './delivery.js';
import { chooseChannel, fallsBackToSubscribe } from './route-plan.js';

test('online users get in-app unless the policy is subscribe-only', () => {
  assert.equal(chooseChannel('IN_APP_THEN_SUBSCRIBE', true), 'in-app');
  assert.equal(chooseChannel('IN_APP_ONLY', true), 'in-app');
  assert.equal(chooseChannel('SUBSCRIBE_ONLY', true), 'subscribe');
});

test('offline users get a subscribe message, or nothing under in-app-only', () => {
  assert.equal(chooseChannel('IN_APP_THEN_SUBSCRIBE', false), 'subscribe');
  assert.equal(chooseChannel('SUBSCRIBE_ONLY', false), 'subscribe');
  assert.equal(chooseChannel('IN_APP_ONLY', false), 'offline');
});

test('only in-app-then-subscribe falls back after a failed in-app push', () => {
  assert.equal(fallsBackToSubscribe('IN_APP_THEN_SUBSCRIBE'), true);
  assert.equal(fallsBackToSubscribe('IN_APP_ONLY'), false);
});

test('a delivery id is stable per (appid, message id, openid), distinct otherwise, and fits GetDelivery', () => {
  const id = deliveryIdFor('wx0123456789abcdef', 'm-1', 'o_alice');
  assert.equal(id, deliveryIdFor('wx0123456789abcdef', 'm-1', 'o_alice'));
  assert.notEqual(id, deliveryIdFor('wx0123456789abcdef', 'm-1', 'o_bob'));
  assert.notEqual(id, deliveryIdFor('wx0123456789abcdef', 'm-2', 'o_alice'));
  // The separator keeps ("ab","c") and ("a","bc") apart.
  assert.notEqual(deliveryIdFor('wx', 'ab', 'c'), deliveryIdFor('wx', 'a', 'bc'));
  assert.match(id, /^[0-9A-Za-z._~:-]{1,128}$/);
});
