import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Code, type ConnectError } from '@connectrpc/connect';
import * as sessionRecord from './session-record.js';
import type { SessionPolicy, SessionRecord } from './session-record.js';

const { attributesBytes, checkAttributes, isLive, liveOldestFirst, newRecord, nextExpiry } = sessionRecord;
const T0 = 1_700_000_000_000;
const IDLE = 600_000;
const MAX_AGE = 3 * IDLE;
const POLICY: SessionPolicy = { idleTtlMs: IDLE, maxAgeMs: MAX_AGE, maxPerUser: 3, attributesMaxBytes: 8 };
const INPUT = { appid: 'wx0123456789abcdef', unionid: 'u_1', secretDigest: 'digest', attributes: { k: 'v' } };

test('a new record is live, pending its SessionStarted, with idle and absolute expiries from the policy', () => {
  assert.deepEqual(newRecord(POLICY, INPUT, T0), {
    appid: INPUT.appid,
    unionid: 'u_1',
    createdAt: T0,
    lastActiveAt: T0,
    expiresAt: T0 + IDLE,
    maxExpiresAt: T0 + MAX_AGE,
    secretDigest: 'digest',
    attributes: { k: 'v' },
    state: 'live',
    startPending: true,
  });
});

test('the idle expiry of a new record never passes its max age', () => {
  const record = newRecord({ ...POLICY, idleTtlMs: 2 * MAX_AGE }, INPUT, T0);
  assert.equal(record.expiresAt, T0 + MAX_AGE);
  assert.equal(nextExpiry(record), T0 + MAX_AGE);
});

test('a record is live until the earlier of its expiries, and never once ended', () => {
  const record = newRecord(POLICY, INPUT, T0);
  assert.equal(isLive(record, T0), true);
  assert.equal(isLive(record, T0 + IDLE - 1), true);
  assert.equal(isLive(record, T0 + IDLE), false, 'idle expiry');
  const slid: SessionRecord = { ...record, expiresAt: T0 + MAX_AGE + IDLE };
  assert.equal(isLive(slid, T0 + MAX_AGE), false, 'max age wins over a later idle expiry');
  assert.equal(nextExpiry(slid), T0 + MAX_AGE);
  const ended: SessionRecord = { ...record, state: 'ended', endReason: 'logout', endedAt: T0 };
  assert.equal(isLive(ended, T0), false);
});

test('live sessions are listed oldest first, ties by session id, without tombstones or expired ones', () => {
  const at = (createdAt: number) => ({ ...newRecord(POLICY, INPUT, createdAt) });
  const records = new Map<string, SessionRecord>([
    ['c', at(T0 + 2)],
    ['b', at(T0 + 1)],
    ['a', at(T0 + 2)],
    ['ended', { ...at(T0), state: 'ended', endReason: 'eviction', endedAt: T0 + 3 }],
    ['expired', at(T0 - IDLE)],
  ]);
  const listed = liveOldestFirst('o_1', records, T0 + 5);
  assert.deepEqual(
    listed.map((s) => s.sessionId),
    ['b', 'a', 'c'],
  );
  assert.equal(listed[0]!.openid, 'o_1');
  assert.equal(listed[0]!.record, records.get('b'));
});

test('attributes are measured in UTF-8 bytes of keys and values, and over the limit refused', () => {
  assert.equal(attributesBytes({}), 0);
  assert.equal(attributesBytes({ ab: 'cd', é: '中' }), 4 + 2 + 3);
  assert.doesNotThrow(() => checkAttributes({ abcd: 'efgh' }, 8));
  assert.throws(
    () => checkAttributes({ abcd: 'efghi' }, 8),
    (err: ConnectError) =>
      err.code === Code.InvalidArgument && /9 bytes .* over the 8-byte limit/.test(err.rawMessage),
  );
});
