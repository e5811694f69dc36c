import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Caller } from '@wxmesh/rpc';
import { orderVisibleTo } from './order-access.js';

const order = { openid: 'o_alice', appid: 'wx0123456789abcdef' };
const user = (openid: string, appid?: string): Caller => ({
  kind: 'user',
  via: 'gateway',
  identity: appid === undefined ? { openid } : { openid, appid },
});

test('a user sees their own order, with or without an appid from the gateway', () => {
  assert.equal(orderVisibleTo(user('o_alice', 'wx0123456789abcdef'), order), true);
  assert.equal(orderVisibleTo(user('o_alice'), order), true);
});

test("a user does not see another user's order", () => {
  assert.equal(orderVisibleTo(user('o_bob', 'wx0123456789abcdef'), order), false);
  assert.equal(orderVisibleTo(user('o_bob'), order), false);
});

test('the same openid under another app is not the payer', () => {
  assert.equal(orderVisibleTo(user('o_alice', 'wxfedcba9876543210'), order), false);
});

test('a mesh peer the kit let through sees any order; an anonymous caller sees none', () => {
  assert.equal(orderVisibleTo({ kind: 'peer', peer: 'business-backend', identity: {} }, order), true);
  assert.equal(orderVisibleTo({ kind: 'anonymous' }, order), false);
});
