// Subscription state against a real Redis: per app and template, newest answer wins.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startInfra, type Infra } from '@wxmesh/testing';
import { Redis } from 'ioredis';
import { createSubscriptionStore, subscriptionKey } from './subscription-store.js';

let infra: Infra<{ redis: true; kafka: false }>;
let redis: Redis;

before(async () => {
  infra = await startInfra({ redis: true, kafka: false });
  redis = new Redis(infra.redisUrl, { db: 13, enableAutoPipelining: true });
  await redis.flushdb();
});

after(async () => {
  redis?.disconnect();
  await infra?.stop();
});

test('answers are kept per app and template; unknown is undefined', async () => {
  const store = createSubscriptionStore(redis);
  assert.equal(await store.status('wx1', 'o_a', 'T1'), undefined);
  await store.record('wx1', 'o_a', [
    { templateId: 'T1', status: 'accept', at: 1000 },
    { templateId: 'T2', status: 'reject', at: 1000 },
  ]);
  assert.equal(await store.status('wx1', 'o_a', 'T1'), 'accept');
  assert.equal(await store.status('wx1', 'o_a', 'T2'), 'reject');
  assert.equal(await store.status('wx2', 'o_a', 'T1'), undefined, 'another app');
  assert.equal(await store.status('wx1', 'o_b', 'T1'), undefined, 'another user');
  const hash = await redis.hgetall(subscriptionKey('o_a'));
  assert.equal(hash['wx1:T1'], 'accept');
  assert.equal(hash['wx1:T1:at'], '1000');
});

test('an older answer processed late does not overwrite a newer one; no time always wins', async () => {
  const store = createSubscriptionStore(redis);
  await store.record('wx1', 'o_c', [{ templateId: 'T1', status: 'reject', at: 2000 }]);
  await store.record('wx1', 'o_c', [{ templateId: 'T1', status: 'accept', at: 1000 }]);
  assert.equal(await store.status('wx1', 'o_c', 'T1'), 'reject');
  await store.record('wx1', 'o_c', [{ templateId: 'T1', status: 'accept', at: 2000 }]);
  assert.equal(await store.status('wx1', 'o_c', 'T1'), 'accept', 'the same second: the later record wins');
  await store.record('wx1', 'o_c', [{ templateId: 'T1', status: 'ban' }]);
  assert.equal(await store.status('wx1', 'o_c', 'T1'), 'ban');
  await store.record('wx1', 'o_c', [{ templateId: 'T1', status: 'accept', at: 1 }]);
  assert.equal(
    await store.status('wx1', 'o_c', 'T1'),
    'accept',
    'after an untimed answer, any timed one applies',
  );
  await store.record('wx1', 'o_c', []);
});

test('a value that is not a status reads as unknown', async () => {
  const store = createSubscriptionStore(redis);
  await redis.hset(subscriptionKey('o_d'), 'wx1:T1', 'garbage');
  assert.equal(await store.status('wx1', 'o_d', 'T1'), undefined);
});
