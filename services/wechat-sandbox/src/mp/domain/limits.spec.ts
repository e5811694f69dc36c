// WeChat's day and second arithmetic as the sandbox applies it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { quotaDay, secondsLeft, unixSeconds } from './limits.js';

test('the quota day turns at midnight China Standard Time (16:00 UTC)', () => {
  const beforeMidnightCst = Date.UTC(2026, 0, 1, 15, 59, 59, 999);
  assert.equal(quotaDay(beforeMidnightCst + 1), quotaDay(beforeMidnightCst) + 1);
  assert.equal(quotaDay(Date.UTC(2026, 0, 1, 0, 0)), quotaDay(beforeMidnightCst));
});

test('expires_in rounds up to whole seconds and never goes below 0; unix seconds round down', () => {
  assert.equal(secondsLeft(7_200_000, 1), 7200);
  assert.equal(secondsLeft(7_200_000, 7_199_000), 1);
  assert.equal(secondsLeft(1000, 5000), 0);
  assert.equal(unixSeconds(1_999), 1);
});
