import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Code, ConnectError } from '@connectrpc/connect';
import { toConnectError } from './errors.js';

const redis = {
  name: 'redis',
  check: async () => {},
  isUnavailable: (err: unknown) => err instanceof Error && err.message === 'Command timed out',
};

test('a dependency out of reach is Unavailable naming it, not Internal', () => {
  const { error, unexpected } = toConnectError(new Error('Command timed out'), undefined, undefined, [redis]);
  assert.equal(error.code, Code.Unavailable);
  assert.equal(error.rawMessage, 'redis is unavailable; retry with backoff');
  assert.equal(unexpected, false);
});

test('past the deadline every failure is DeadlineExceeded; an unexpected one is still logged', () => {
  const past = Date.now() - 1;
  const aborted = toConnectError(new DOMException('aborted', 'AbortError'), past);
  assert.equal(aborted.error.code, Code.DeadlineExceeded);
  assert.equal(aborted.unexpected, false);
  const dependency = toConnectError(new Error('Command timed out'), past, undefined, [redis]);
  assert.equal(dependency.error.code, Code.DeadlineExceeded);
  assert.equal(dependency.unexpected, false);
  const bug = toConnectError(new TypeError('x is undefined'), past);
  assert.equal(bug.error.code, Code.DeadlineExceeded);
  assert.equal(bug.unexpected, true, 'a real bug after the deadline still reaches the log');
});

test('a ConnectError keeps its code; anything unknown is Internal with a fixed message', () => {
  const kept = toConnectError(new ConnectError('no such order', Code.NotFound), undefined);
  assert.equal(kept.error.code, Code.NotFound);
  const unknown = toConnectError(new Error('secret=abc at 10.0.0.1:6379'), Date.now() + 60_000, undefined, [
    redis,
  ]);
  assert.equal(unknown.error.code, Code.Internal);
  assert.equal(unknown.error.rawMessage, 'internal error');
  assert.equal(unknown.unexpected, true);
});
