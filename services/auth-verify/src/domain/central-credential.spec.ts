import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  credentialUse,
  expiresAtOf,
  isFresh,
  refreshWaitMs,
  replacesRejected,
} from './central-credential.js';

const token = { value: 'T1', expiresAt: 10_000 };

test('a credential is served while fresh, served and refreshed in its last stretch, refreshed when gone', () => {
  assert.equal(credentialUse(token, 4_999, 5_000), 'serve');
  assert.equal(credentialUse(token, 5_000, 5_000), 'serve-and-refresh');
  assert.equal(credentialUse(token, 9_999, 5_000), 'serve-and-refresh');
  assert.equal(credentialUse(token, 10_000, 5_000), 'refresh');
  assert.equal(credentialUse(undefined, 0, 5_000), 'refresh');
});

test('fresh means more than the refresh margin left', () => {
  assert.equal(isFresh(token, 4_999, 5_000), true);
  assert.equal(isFresh(token, 5_000, 5_000), false);
  assert.equal(isFresh(undefined, 0, 0), false);
});

test('a stored credential other than the rejected one replaces it; the same one or none does not', () => {
  assert.equal(replacesRejected(token, 'T0'), true);
  assert.equal(replacesRejected(token, 'T1'), false);
  assert.equal(replacesRejected(undefined, 'T1'), false);
});

test('WeChat’s expires_in counts from the answer', () => {
  assert.equal(expiresAtOf({ expiresInSeconds: 7200 }, 1_000), 7_201_000);
});

test('losers of the refresh race wait 20 ms doubling to 200 ms, jittered by half either way', () => {
  assert.equal(refreshWaitMs(0, 0), 10);
  assert.equal(refreshWaitMs(0, 0.5), 20);
  assert.equal(refreshWaitMs(3, 0.5), 160);
  assert.equal(refreshWaitMs(4, 0.5), 200);
  assert.equal(refreshWaitMs(10, 0.999), 200 * 1.499);
});
