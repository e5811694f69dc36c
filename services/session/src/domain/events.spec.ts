import assert from 'node:assert/strict';
import { test } from 'node:test';
import { timestampMs } from '@bufbuild/protobuf/wkt';
import { SessionEndReason, UserOfflineReason } from '@wxmesh/contracts';
import { sessionEnded, sessionStarted, userOffline, userOnline } from './events.js';
import type { SessionRecord } from './session-record.js';

const T0 = 1_700_000_000_000;
const RECORD: SessionRecord = {
  appid: 'wx0123456789abcdef',
  unionid: 'u_1',
  createdAt: T0,
  lastActiveAt: T0 + 5,
  expiresAt: T0 + 600_000,
  maxExpiresAt: T0 + 1_800_000,
  secretDigest: 'digest',
  attributes: {},
  state: 'live',
  startPending: true,
};

test('SessionStarted: id from the session, at its creation, with its max expiry and identity', () => {
  const event = sessionStarted('o_1', 'sid1', RECORD);
  assert.equal(event.eventId, 'session:sid1:started');
  assert.equal(event.aggregateId, 'session:sid1');
  assert.equal(event.producer, 'session');
  assert.equal(timestampMs(event.occurredAt!), T0);
  assert.deepEqual(
    { openid: event.wechat!.openid, appid: event.wechat!.appid, unionid: event.wechat!.unionid },
    { openid: 'o_1', appid: RECORD.appid, unionid: 'u_1' },
  );
  assert.equal(event.payload.case, 'sessionStarted');
  assert.equal(event.payload.value!.sessionId, 'sid1');
  assert.equal(
    event.payload.case === 'sessionStarted' && timestampMs(event.payload.value.maxExpiresAt!),
    T0 + 1_800_000,
  );
});

test('SessionEnded: at its end time and reason; an expiry with no end time at the idle expiry', () => {
  const revoked = sessionEnded('o_1', 'sid1', {
    ...RECORD,
    state: 'ended',
    endReason: 'revocation',
    endedAt: T0 + 9,
  });
  assert.equal(revoked.eventId, 'session:sid1:ended');
  assert.equal(timestampMs(revoked.occurredAt!), T0 + 9);
  assert.equal(
    revoked.payload.case === 'sessionEnded' && revoked.payload.value.reason,
    SessionEndReason.REVOCATION,
  );
  const expired = sessionEnded('o_1', 'sid1', { ...RECORD, state: 'ended' });
  assert.equal(timestampMs(expired.occurredAt!), T0 + 600_000);
  assert.equal(
    expired.payload.case === 'sessionEnded' && expired.payload.value.reason,
    SessionEndReason.EXPIRY,
  );
  const noUnion = sessionEnded('o_1', 'sid1', {
    ...RECORD,
    unionid: '',
    state: 'ended',
    endReason: 'logout',
  });
  assert.equal(noUnion.wechat!.unionid, '', 'no unionid is left unset');
});

test('UserOnline: id from the channel, naming the replica', () => {
  const channel = { openid: 'o_1', appid: 'wx1', unionid: '', channelId: 'ch1', replicaId: 'r1' };
  const event = userOnline(channel, T0);
  assert.equal(event.eventId, 'channel:ch1:online');
  assert.equal(event.aggregateId, 'user:o_1');
  assert.equal(timestampMs(event.occurredAt!), T0);
  assert.deepEqual(event.payload.value, { ...event.payload.value, replicaId: 'r1', channelId: 'ch1' });
});

test('UserOffline: id from the closing channel, or from replica and user when a replica went', () => {
  const byChannel = userOffline({ openid: 'o_1', appid: 'wx1' }, 'r1', 'overflow', 'ch1', T0);
  assert.equal(byChannel.eventId, 'channel:ch1:offline');
  assert.equal(
    byChannel.payload.case === 'userOffline' && byChannel.payload.value.reason,
    UserOfflineReason.OVERFLOW,
  );
  const lost = userOffline({ openid: 'o_1', appid: '' }, 'r1', 'replica_lost', undefined, T0);
  assert.match(lost.eventId, /^replica:[0-9A-Za-z_-]{32}:offline$/);
  assert.equal(
    lost.eventId,
    userOffline({ openid: 'o_1', appid: '' }, 'r1', 'replica_lost', undefined, T0 + 1).eventId,
  );
  assert.notEqual(
    lost.eventId,
    userOffline({ openid: 'o_2', appid: '' }, 'r1', 'replica_lost', undefined, T0).eventId,
  );
  assert.notEqual(
    lost.eventId,
    userOffline({ openid: 'o_1', appid: '' }, 'r2', 'replica_lost', undefined, T0).eventId,
  );
  assert.ok(lost.eventId.length <= 128);
  assert.equal(lost.payload.case === 'userOffline' && lost.payload.value.replicaId, 'r1');
});
