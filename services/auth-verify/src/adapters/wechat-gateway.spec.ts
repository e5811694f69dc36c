import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Code, ConnectError } from '@connectrpc/connect';
import { BreakerOpenError, BreakerTimeoutError } from '@wxmesh/resilience';
import { WeChatApiError, WeChatMalformedAnswerError, WeChatUnavailableError } from '@wxmesh/wechat';
import { weChatFailure } from './wechat-gateway.js';

const api = (errcode: number) => new WeChatApiError('/sns/jscode2session', errcode, 'errmsg echoing input');

test('WeChat refusals of the caller’s input answer their precise code', () => {
  assert.equal(weChatFailure(api(40029)).code, Code.InvalidArgument);
  assert.equal(weChatFailure(api(40163)).code, Code.InvalidArgument);
  assert.equal(weChatFailure(api(40030)).code, Code.Unauthenticated);
  assert.equal(weChatFailure(api(42002)).code, Code.Unauthenticated);
  assert.equal(weChatFailure(api(40226)).code, Code.PermissionDenied);
  assert.equal(weChatFailure(api(45011)).code, Code.ResourceExhausted);
  assert.equal(weChatFailure(api(45009)).code, Code.ResourceExhausted);
  assert.equal(weChatFailure(api(40013)).code, Code.FailedPrecondition);
  assert.equal(weChatFailure(api(40125)).code, Code.FailedPrecondition);
  assert.match(weChatFailure(api(40163)).rawMessage, /^WeChat errcode 40163: the code was already used/);
});

test('other errcodes are Unavailable and never pass WeChat’s errmsg on', () => {
  for (const errcode of [-1, 40001, 61234]) {
    const failure = weChatFailure(api(errcode));
    assert.equal(failure.code, Code.Unavailable);
    assert.equal(failure.rawMessage, `WeChat answered errcode ${errcode}`);
  }
});

test('an unreachable, malformed-answering, open or slow WeChat is Unavailable', () => {
  const failures = [
    new WeChatUnavailableError('/cgi-bin/stable_token', 'HTTP 502'),
    new WeChatMalformedAnswerError('/cgi-bin/stable_token', ['expires_in: expected number']),
    new BreakerOpenError('wechat.api'),
    new BreakerTimeoutError('wechat.api', 3000),
  ];
  for (const err of failures) assert.equal(weChatFailure(err).code, Code.Unavailable, err.name);
  assert.match(
    weChatFailure(failures[1]).rawMessage,
    /malformed answer \(expires_in: expected number\); retry later/,
  );
});

test('ConnectErrors pass unchanged; anything else is rethrown, whatever its name says', () => {
  const own = new ConnectError('deadline', Code.DeadlineExceeded);
  assert.equal(weChatFailure(own), own);
  const impostor = Object.assign(new Error('not a breaker'), { name: 'BreakerOpenError' });
  assert.throws(
    () => weChatFailure(impostor),
    (err) => err === impostor,
  );
});
