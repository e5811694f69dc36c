import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { Redis } from 'ioredis';
import { startInfra, type Infra } from '@wxmesh/testing';
import type { SubscribeContent } from '../domain/delivery.js';
import { createDeliveryStore, type NewDelivery } from './delivery-store.js';

const NOW = 1_800_000_000_000;
const content: SubscribeContent = {
  templateId: 'T1',
  page: 'pages/index',
  data: { thing1: 'hi' },
  miniprogramState: 'formal',
  lang: 'zh_CN',
};
const queued = (id: string, priority: NewDelivery['priority'] = 'NORMAL'): NewDelivery => ({
  deliveryId: id,
  appid: 'wx0123456789abcdef',
  openid: `o_${id}`,
  messageId: 'm1',
  channel: 'SUBSCRIBE',
  priority,
  state: 'QUEUED',
  subscribe: content,
});

let infra: Infra<{ redis: true; kafka: false }>;
let redis: Redis;
let reader: Redis;

before(async () => {
  infra = await startInfra({ redis: true, kafka: false });
  // A database of its own: the queue's keys are fixed, and other specs use the same server.
  redis = new Redis(infra.redisUrl, { db: 9, enableAutoPipelining: true });
  reader = new Redis(infra.redisUrl, { db: 9 });
});

beforeEach(async () => {
  await redis.flushdb();
});

after(async () => {
  redis?.disconnect();
  reader?.disconnect();
  await infra?.stop();
});

async function newStore(maxDepth = 100) {
  const store = createDeliveryStore(redis, { maxDepth, retentionMs: 60_000, reader });
  await store.init();
  return store;
}

test('a delivery is created once: a repeat finds it and queues nothing more', async () => {
  const store = await newStore();
  const first = await store.create([queued('a')], NOW);
  assert.deepEqual(first, {
    full: false,
    states: [{ state: 'QUEUED', channel: 'SUBSCRIBE', created: true, updatedAt: NOW }],
  });
  const again = await store.create([queued('a')], NOW + 5);
  assert.deepEqual(again, {
    full: false,
    states: [{ state: 'QUEUED', channel: 'SUBSCRIBE', created: false, updatedAt: NOW }],
  });
  assert.equal((await store.depth(NOW)).queued, 1);
  const delivery = await store.get('a');
  assert.equal(delivery?.createdAt, NOW);
  assert.deepEqual(delivery?.subscribe, content);
  assert.deepEqual(
    delivery?.history.map((s) => s.state),
    ['QUEUED'],
  );
});

test('a full queue refuses the whole batch and writes nothing', async () => {
  const store = await newStore(3);
  await store.create([queued('a'), queued('b')], NOW);
  const refused = await store.create([queued('c'), queued('d')], NOW);
  assert.deepEqual(refused, { full: true, depth: 2 });
  assert.equal(await store.get('c'), undefined);
  assert.equal((await store.depth(NOW)).queued, 2);
  // A batch that only repeats existing deliveries is not refused.
  assert.equal((await store.create([queued('a')], NOW)).full, false);
});

test('jobs are read highest priority first', async () => {
  const store = await newStore();
  await store.create([queued('low', 'LOW'), queued('normal'), queued('high', 'HIGH')], NOW);
  const jobs = await store.read('w1', 3, 0);
  assert.deepEqual(
    jobs.map((j) => j.deliveryId),
    ['high', 'normal', 'low'],
  );
});

test('an attempt is fenced: a stale worker cannot overwrite the new owner, and its entry is acknowledged', async () => {
  const store = await newStore();
  await store.create([queued('a')], NOW);
  const [job] = await store.read('w1', 1, 0);
  const started = await store.start(job!, NOW + 1);
  assert.equal(started.kind, 'send');
  assert.equal(started.kind === 'send' && started.delivery.attempts, 1);
  assert.equal(
    await store.move('a', {
      from: 'SENDING',
      attempts: 2,
      to: 'DELIVERED',
      channel: 'SUBSCRIBE',
      at: NOW + 2,
      job,
    }),
    'stale',
  );
  assert.equal(
    await store.move('a', {
      from: 'SENDING',
      attempts: 1,
      to: 'DELIVERED',
      channel: 'SUBSCRIBE',
      at: NOW + 3,
      job,
    }),
    'ok',
  );
  const delivery = await store.get('a');
  assert.equal(delivery?.state, 'DELIVERED');
  assert.equal(delivery?.deliveredAt, NOW + 3);
  assert.deepEqual(
    delivery?.history.map((s) => s.state),
    ['QUEUED', 'SENDING', 'DELIVERED'],
  );
  assert.equal((await store.depth(NOW)).queued, 0, 'the entry is acknowledged and deleted');
  assert.ok(
    (await redis.pttl(store.keys.delivery('a'))) > 0,
    'a finished delivery expires after the retention',
  );
  assert.deepEqual((await store.owedEvents(10)).map((o) => o.kind).sort(), ['delivered', 'routed']);
});

test('a retry waits in the delayed set and comes back on its own priority when due', async () => {
  const store = await newStore();
  await store.create([queued('a', 'HIGH')], NOW);
  const [job] = await store.read('w1', 1, 0);
  await store.start(job!, NOW);
  const error = { errcode: 0, message: 'HTTP 502', retryable: true };
  await store.move('a', {
    from: 'SENDING',
    attempts: 1,
    to: 'RETRY_SCHEDULED',
    channel: 'SUBSCRIBE',
    at: NOW,
    error,
    retryAt: NOW + 1_000,
    priority: 'HIGH',
    job,
  });
  assert.equal(await store.promoteDue(NOW + 999), 0);
  assert.deepEqual(await store.read('w1', 5, 0), []);
  assert.equal(await store.promoteDue(NOW + 1_000), 1);
  const [again] = await store.read('w1', 5, 0);
  assert.equal(again?.stream, store.keys.stream('HIGH'));
  const retried = await store.start(again!, NOW + 1_001);
  assert.equal(retried.kind === 'send' && retried.delivery.attempts, 2);
  assert.deepEqual((await store.get('a'))?.lastError, error);
});

test("a dead consumer's job is reclaimed; one it left mid-send is reported ambiguous, not resent", async () => {
  const store = await newStore();
  await store.create([queued('waiting'), queued('sending')], NOW);
  const jobs = await store.read('dead', 2, 0);
  await store.start(
    jobs.find((j) => j.deliveryId === 'sending')!,
    NOW,
  );
  assert.deepEqual(await store.reclaim('alive', 60_000, 10), [], 'not idle long enough yet');
  const reclaimed = await store.reclaim('alive', 0, 10);
  assert.deepEqual(reclaimed.map((j) => j.deliveryId).sort(), ['sending', 'waiting']);
  assert.equal(
    (
      await store.start(
        reclaimed.find((j) => j.deliveryId === 'waiting')!,
        NOW,
      )
    ).kind,
    'send',
  );
  assert.deepEqual(
    await store.start(
      reclaimed.find((j) => j.deliveryId === 'sending')!,
      NOW,
    ),
    { kind: 'ambiguous', attempts: 1 },
  );
});

test('a dead letter is replayed with a fresh attempts budget, once', async () => {
  const store = await newStore();
  await store.create([queued('a')], NOW);
  const [job] = await store.read('w1', 1, 0);
  await store.start(job!, NOW);
  const error = { errcode: 0, message: 'gave up after 1 attempts', retryable: false };
  await store.move('a', {
    from: 'SENDING',
    attempts: 1,
    to: 'DEAD_LETTERED',
    channel: 'SUBSCRIBE',
    at: NOW,
    error,
    job,
  });
  const [dead] = await store.deadLetters(10);
  assert.deepEqual(dead && { id: dead.deliveryId, reason: dead.reason }, { id: 'a', reason: error.message });
  assert.equal(await store.replay(dead!.entryId, 'a', 'NORMAL', NOW + 1), true);
  assert.equal(await store.replay(dead!.entryId, 'a', 'NORMAL', NOW + 2), false);
  assert.deepEqual(await store.deadLetters(10), []);
  const replayed = await store.get('a');
  assert.deepEqual([replayed?.state, replayed?.attempts], ['QUEUED', 0]);
  assert.equal(await redis.pttl(store.keys.delivery('a')), -1, 'a replayed delivery no longer expires');
  const [again] = await store.read('w1', 1, 0);
  assert.equal(again?.deliveryId, 'a');
});
