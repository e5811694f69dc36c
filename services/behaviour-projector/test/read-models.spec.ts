// The read-model store against a real Redis, in both apply modes: what one chunk writes, including
// values the MessagePack packing must carry intact (non-ASCII, longer than 255 bytes, large sums).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startInfra, type Infra } from '@wxmesh/testing';
import { Redis } from 'ioredis';
import { createReadModelStore } from '../src/adapters/read-models.js';
import type { Projection } from '../src/domain/projection.js';

let infra: Infra<{ redis: true; kafka: false }>;
let redis: Redis;

before(async () => {
  infra = await startInfra({ redis: true, kafka: false });
  redis = new Redis(infra.redisUrl);
});

after(async () => {
  await redis?.quit();
  await infra?.stop();
});

const APPID = `wx${'é'.repeat(40)}${'x'.repeat(300)}`;

const projection = (n: number, overrides: Partial<Projection> = {}): Projection => ({
  openid: `o_${n % 3}`,
  eventId: `e-${n}`,
  at: Date.UTC(2025, 0, 1) + n,
  appid: APPID,
  unionid: '统一ID😀',
  eventType: 'payment_succeeded',
  incr: [
    ['op', 1],
    ['pt', 123_456_789_012],
  ],
  funnel: { appid: APPID, day: '2025-01-01', step: 'paid' },
  ...overrides,
});

for (const applyMode of ['batch', 'event'] as const) {
  describe(`createReadModelStore, applyMode ${applyMode}`, () => {
    it('folds a chunk once, whatever the strings hold, and counts duplicates', async () => {
      const prefix = `wxm:rm-spec:${randomBytes(3).toString('hex')}:`;
      const store = createReadModelStore(redis, { prefix, newGeneration: () => 'g1', applyMode });
      const targets = await store.writeTargets();
      const chunk = [0, 1, 2, 3, 4].map((n) => projection(n));
      chunk.push(projection(5, { flag: 'phone', incr: [], funnel: undefined, unionid: '', appid: '' }));
      assert.deepEqual(await store.apply(targets, chunk), { applied: 6, duplicates: 0 });
      assert.deepEqual(await store.apply(targets, chunk.slice(0, 4)), { applied: 0, duplicates: 4 });

      const user2 = await store.journey('o_2');
      assert.equal(user2.unionid, '统一ID😀');
      assert.equal(user2.appid, APPID);
      assert.equal(user2.phone, '1');
      assert.equal(user2.op, '1');
      assert.equal(user2.pt, '123456789012');
      assert.equal(user2.last, String(Date.UTC(2025, 0, 1) + 5));
      assert.equal(user2.le_id, 'e-5');
      const user0 = await store.journey('o_0');
      assert.equal(user0.op, '2');
      assert.equal(user0.pt, '246913578024');
      assert.equal(user0.first, String(Date.UTC(2025, 0, 1)));
      const [day] = await store.funnel(APPID, ['2025-01-01']);
      assert.deepEqual(day, { day: '2025-01-01', logged_in: 0, phone_bound: 0, ordered: 0, paid: 3 });
      assert.deepEqual((await redis.smembers(`${prefix}g1:{o_1}:applied`)).sort(), ['e-1', 'e-4']);
    });
  });
}
