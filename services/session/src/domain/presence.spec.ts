import assert from 'node:assert/strict';
import { test } from 'node:test';
import { replicaAlive, summarizePresence, type PresenceEntry } from './presence.js';

const NOW = 1_700_000_000_000;
const TTL = 15_000;
const entry = (replicaId: string): PresenceEntry => ({
  replicaId,
  sessionId: 's',
  appid: 'wx1',
  attachedAt: NOW - 1,
});
const beats: Record<string, number> = { alive: NOW - 1_000, alsoAlive: NOW - TTL + 1, lapsed: NOW - TTL };

test('a replica is alive while its last heartbeat is younger than the TTL', () => {
  assert.equal(replicaAlive(NOW - TTL + 1, NOW, TTL), true);
  assert.equal(replicaAlive(NOW - TTL, NOW, TTL), false);
  assert.equal(replicaAlive(undefined, NOW, TTL), false);
});

test('only channels on live replicas count, by replica; an online user was last seen now', () => {
  const stored = {
    entries: [entry('alive'), entry('alive'), entry('alsoAlive'), entry('lapsed')],
    lastSeenAt: 5,
  };
  const user = summarizePresence('o_1', stored, (id) => beats[id], NOW, TTL);
  assert.equal(user.openid, 'o_1');
  assert.equal(user.channelCount, 3);
  assert.deepEqual(
    [...user.replicas],
    [
      ['alive', 2],
      ['alsoAlive', 1],
    ],
  );
  assert.equal(user.lastSeenAt, NOW);
});

test('an offline user was last seen at the later of the stored time and a lapsed replica’s last beat', () => {
  const seenWith = (replicaId: string, lastSeenAt: number | undefined) =>
    summarizePresence('o_1', { entries: [entry(replicaId)], lastSeenAt }, (id) => beats[id], NOW, TTL);
  const cases: Array<[string, number | undefined, number | undefined]> = [
    ['lapsed', NOW - 60_000, NOW - TTL],
    ['lapsed', NOW - 1, NOW - 1],
    // A replica no longer registered (reaped) says nothing about when.
    ['gone', undefined, undefined],
    ['gone', NOW - 60_000, NOW - 60_000],
  ];
  for (const [replicaId, stored, expected] of cases) {
    const user = seenWith(replicaId, stored);
    assert.deepEqual(
      { count: user.channelCount, replicas: user.replicas.size, seen: user.lastSeenAt },
      {
        count: 0,
        replicas: 0,
        seen: expected,
      },
    );
  }
});

test('a user never seen reads offline with no last-seen time', () => {
  const user = summarizePresence('o_new', { entries: [], lastSeenAt: undefined }, () => undefined, NOW, TTL);
  assert.deepEqual(
    { count: user.channelCount, replicas: user.replicas.size, seen: user.lastSeenAt },
    { count: 0, replicas: 0, seen: undefined },
  );
});
