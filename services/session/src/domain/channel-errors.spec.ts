import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Code } from '@connectrpc/connect';
import { channelOverflowError, replicaShuttingDownError, sessionEndedError } from './channel-errors.js';
import type { EndReason } from './session-record.js';

test('a channel of an ended session closes Unauthenticated, saying why and to log in again', () => {
  const cases: Array<[EndReason, string]> = [
    ['logout', 'the session was logged out; log in again'],
    ['expiry', 'the session expired; log in again'],
    ['eviction', 'the session was replaced by a newer login; log in again'],
    ['revocation', 'the session was revoked; log in again'],
  ];
  for (const [reason, message] of cases) {
    const err = sessionEndedError(reason);
    assert.equal(err.code, Code.Unauthenticated);
    assert.equal(err.rawMessage, message);
  }
  assert.equal(sessionEndedError('newer-reason' as EndReason).rawMessage, 'the session ended; log in again');
});

test('an overflowing channel closes ResourceExhausted naming its capacity; a withdrawing replica is Unavailable', () => {
  const overflow = channelOverflowError(64);
  assert.equal(overflow.code, Code.ResourceExhausted);
  assert.match(overflow.rawMessage, /buffer full \(64 messages\).*reconnect/);
  const shutting = replicaShuttingDownError();
  assert.equal(shutting.code, Code.Unavailable);
  assert.match(shutting.rawMessage, /reconnect to another replica/);
});
