import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  SEEN_FIELD,
  decodeHeartbeats,
  decodePresenceEntry,
  decodePresenceHash,
  decodeReplicaUsers,
  encodePresenceEntry,
  encodeReplicaChannel,
} from './presence-codec.js';

const ENTRY = { replicaId: 'r1', sessionId: 'sid1', appid: 'wx1', attachedAt: 1_700_000_000_000 };

test('a presence entry is stored with short fields in their order, and round-trips', () => {
  const json = encodePresenceEntry(ENTRY);
  assert.equal(json, '{"r":"r1","s":"sid1","a":"wx1","t":1700000000000}');
  assert.deepEqual(decodePresenceEntry(json), ENTRY);
});

test('a presence hash reads as its channels and last seen', () => {
  const hash = { ch1: encodePresenceEntry(ENTRY), [SEEN_FIELD]: '1700000000005' };
  assert.equal(SEEN_FIELD, '@seen');
  assert.deepEqual(decodePresenceHash(hash), { entries: [ENTRY], lastSeenAt: 1_700_000_000_005 });
  assert.deepEqual(decodePresenceHash({}), { entries: [], lastSeenAt: undefined });
});

test('a replica’s channel set names users once each; heartbeats decode with their scores', () => {
  assert.equal(encodeReplicaChannel('o_1', 'ch1'), 'o_1 ch1');
  const members = [encodeReplicaChannel('o_1', 'ch1'), encodeReplicaChannel('o_1', 'ch2'), 'o_2 ch3'];
  assert.deepEqual(decodeReplicaUsers(members), ['o_1', 'o_2']);
  assert.deepEqual(decodeHeartbeats(['r1', '100', 'r2', '200']), [
    { replicaId: 'r1', lastHeartbeat: 100 },
    { replicaId: 'r2', lastHeartbeat: 200 },
  ]);
});
