import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SessionRecord } from '../domain/session-record.js';
import * as codec from './session-codec.js';

const T0 = 1_700_000_000_000;
const NEW: SessionRecord = {
  appid: 'wx0123456789abcdef',
  unionid: 'u_1',
  createdAt: T0,
  lastActiveAt: T0,
  expiresAt: T0 + 600_000,
  maxExpiresAt: T0 + 1_800_000,
  secretDigest: 'ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0',
  attributes: { device: 'ios' },
  state: 'live',
  startPending: true,
};
const ENDED: SessionRecord = {
  ...NEW,
  startPending: undefined,
  state: 'ended',
  endReason: 'eviction',
  endedAt: T0 + 7,
};

test('a new record is stored exactly as before the rename: short fields, in their order', () => {
  assert.equal(
    codec.encodeSessionRecord(NEW),
    '{"a":"wx0123456789abcdef","u":"u_1","c":1700000000000,"l":1700000000000,"e":1700000600000,' +
      '"m":1700001800000,"d":"ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0","at":{"device":"ios"},' +
      '"s":"live","p":1}',
  );
});

test('records round-trip, live and ended', () => {
  assert.deepEqual(codec.decodeSessionRecord(codec.encodeSessionRecord(NEW)), NEW);
  const { startPending: _, ...ended } = ENDED;
  assert.deepEqual(codec.decodeSessionRecord(codec.encodeSessionRecord(ENDED)), ended);
});

test('a record as the Lua scripts write it (cjson: any field order, no pending flag) decodes', () => {
  const lua =
    '{"s":"ended","x":1700000000007,"r":"logout","at":{},"d":"dg","m":1700001800000,' +
    '"e":1700000600000,"l":1700000000003,"c":1700000000000,"u":"","a":"wx1"}';
  assert.deepEqual(codec.decodeSessionRecord(lua), {
    appid: 'wx1',
    unionid: '',
    createdAt: T0,
    lastActiveAt: T0 + 3,
    expiresAt: T0 + 600_000,
    maxExpiresAt: T0 + 1_800_000,
    secretDigest: 'dg',
    attributes: {},
    state: 'ended',
    endReason: 'logout',
    endedAt: T0 + 7,
  });
  assert.equal(codec.decodeOptionalSessionRecord(null), undefined);
});

test('the create script’s ended list and the due index members decode', () => {
  assert.deepEqual(codec.decodeEndedSessions(['s1', 'expiry', 's2', 'eviction']), [
    { sessionId: 's1', reason: 'expiry' },
    { sessionId: 's2', reason: 'eviction' },
  ]);
  assert.deepEqual(codec.decodeEndedSessions([]), []);
  const entry = { openid: 'o_1', sessionId: 'AAECAwQFBgcICQoLDA0ODw' };
  assert.equal(codec.encodeDueMember(entry), 'o_1 AAECAwQFBgcICQoLDA0ODw');
  assert.deepEqual(codec.decodeDueMember(codec.encodeDueMember(entry)), entry);
});
