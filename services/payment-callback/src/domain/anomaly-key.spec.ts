import assert from 'node:assert/strict';
import { test } from 'node:test';
import { anomalyKey } from './anomaly-key.js';

test('an anomaly key names its subject and is stable for the same content in any key order', () => {
  const key = anomalyKey('tx:42', { amount: { total: 1, currency: 'CNY' }, appid: 'wx1' });
  assert.match(key, /^tx:42:[\w-]{16}$/);
  assert.equal(anomalyKey('tx:42', { appid: 'wx1', amount: { currency: 'CNY', total: 1 } }), key);
});

test('different content of one subject gives different keys; so does another subject', () => {
  const key = anomalyKey('tx:42', { amount: { total: 1 } });
  assert.notEqual(anomalyKey('tx:42', { amount: { total: 2 } }), key);
  assert.notEqual(anomalyKey('tx:43', { amount: { total: 1 } }), key);
  assert.notEqual(anomalyKey('tx:42', { amount: { total: 1 }, payer: { openid: 'o' } }), key);
});
