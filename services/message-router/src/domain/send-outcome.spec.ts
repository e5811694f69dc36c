import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoff, nextStep, type RetryPolicy, type SendResult } from './send-outcome.js';
import { weChatErrorKind } from '@wxmesh/wechat';

const policy: RetryPolicy = {
  maxAttempts: 4,
  backoffBaseMs: 1_000,
  backoffMaxMs: 10_000,
  quotaDelayMs: 60_000,
  frequencyDelayMs: 2_000,
};
const now = 1_000_000;
const at = (number: number, tokenRefreshed = false) => ({ number, tokenRefreshed, now });
const wechat = (errcode: number): SendResult => ({
  kind: 'wechat',
  errcode,
  errorKind: weChatErrorKind(errcode),
});
const half = () => 0.5;

test('a send WeChat accepted is delivered', () => {
  assert.deepEqual(nextStep({ kind: 'sent' }, at(1), policy, half), { kind: 'delivered' });
});

test('40001, 42001 and 40014 refresh the token once; a second token error backs off like a transient failure', () => {
  for (const errcode of [40001, 42001, 40014]) {
    assert.equal(nextStep(wechat(errcode), at(1), policy, half).kind, 'refresh-token');
    const again = nextStep(wechat(errcode), at(1, true), policy, half);
    assert.equal(again.kind, 'retry');
    assert.equal(again.kind === 'retry' && again.error.errcode, errcode);
  }
});

test('45009 and 45011 wait their own delay (with up to 10 % jitter) and keep the error', () => {
  const quota = nextStep(wechat(45009), at(1), policy, () => 0.999);
  assert.equal(quota.kind, 'retry');
  assert.ok(quota.kind === 'retry' && quota.at >= now + 60_000 && quota.at < now + 66_000);
  const frequency = nextStep(wechat(45011), at(2), policy, () => 0);
  assert.deepEqual(frequency.kind === 'retry' && [frequency.at, frequency.error.errcode], [
    now + 2_000,
    45011,
  ]);
});

test('43101, 40003 and 47003 fail at once with a reason and are never retryable', () => {
  for (const errcode of [43101, 40003, 47003]) {
    const step = nextStep(wechat(errcode), at(1), policy, half);
    assert.equal(step.kind, 'failed');
    assert.equal(step.kind === 'failed' && step.error.retryable, false);
    assert.equal(step.kind === 'failed' && step.error.errcode, errcode);
    assert.match(
      step.kind === 'failed' ? step.error.message : '',
      new RegExp(`^WeChat errcode ${errcode}: .{10,}`),
    );
  }
});

test('network errors, 5xx and timeouts back off, then dead-letter at the attempts limit', () => {
  const transient: SendResult = {
    kind: 'unavailable',
    detail: 'WeChat /cgi-bin/message/subscribe/send unavailable: HTTP 502',
  };
  for (let n = 1; n < policy.maxAttempts; n++)
    assert.equal(nextStep(transient, at(n), policy, half).kind, 'retry');
  const last = nextStep(transient, at(policy.maxAttempts), policy, half);
  assert.equal(last.kind, 'dead-letter');
  assert.match(last.kind === 'dead-letter' ? last.error.message : '', /HTTP 502; gave up after 4 attempts/);
  assert.equal(
    nextStep(wechat(-1), at(1), policy, half).kind,
    'retry',
    'errcode -1 (system busy) is transient',
  );
});

test('quota errors stop being retried at the attempts limit too, so every job ends', () => {
  assert.equal(nextStep(wechat(45009), at(policy.maxAttempts), policy, half).kind, 'dead-letter');
});

test('backoff is full-jitter exponential, capped, and never zero', () => {
  assert.equal(
    backoff(1, policy, () => 0.999_999),
    999,
  );
  assert.equal(
    backoff(3, policy, () => 0.5),
    2_000,
  );
  assert.equal(
    backoff(20, policy, () => 0.999_999),
    9_999,
  );
  assert.equal(
    backoff(5, policy, () => 0),
    1,
  );
});
