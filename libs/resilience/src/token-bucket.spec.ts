import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { createTokenBucket } from './token-bucket.js';
import { waitFor } from '@wxmesh/testing';

const REDIS_URL = process.env.REDIS_URL;

describe('createTokenBucket (real Redis via REDIS_URL)', () => {
  let redis: Redis;
  let prefix: string;

  before(() => {
    if (!REDIS_URL) throw new Error('REDIS_URL is not set; run via `npm test` at the repo root or export it');
    redis = new Redis(REDIS_URL, { lazyConnect: false, maxRetriesPerRequest: 1 });
    prefix = `wxm:test:rl:${randomUUID()}:`;
  });
  after(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  it('allows exactly `capacity` of 50 concurrent takes', async () => {
    const bucket = createTokenBucket(redis, { keyPrefix: prefix, capacity: 10, refillPerSecond: 0.001 });
    const results = await Promise.all(Array.from({ length: 50 }, () => bucket.take('{user-a}')));
    const allowed = results.filter((r) => r.allowed);
    assert.equal(allowed.length, 10);
    assert.deepEqual(
      allowed.map((r) => r.remaining).sort((a, b) => a - b),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
    for (const r of allowed) assert.equal(r.retryAfterMs, 0);
    for (const r of results.filter((x) => !x.allowed)) {
      assert.equal(r.remaining, 0);
      // one token at 0.001/s takes ~1000 s
      assert.ok(r.retryAfterMs > 990_000 && r.retryAfterMs <= 1_000_000, String(r.retryAfterMs));
    }
  });

  it('refills over time and reports a sensible retryAfterMs', async () => {
    const bucket = createTokenBucket(redis, { keyPrefix: prefix, capacity: 3, refillPerSecond: 5 });
    assert.deepEqual(await bucket.take('{user-b}', 3), { allowed: true, remaining: 0, retryAfterMs: 0 });
    const denied = await bucket.take('{user-b}');
    assert.equal(denied.allowed, false);
    // one token at 5/s takes 200 ms, minus whatever refilled since the first take
    assert.ok(denied.retryAfterMs > 100 && denied.retryAfterMs <= 200, `retryAfterMs ${denied.retryAfterMs}`);

    const deniedAt = Date.now();
    await waitFor(async () => (await bucket.take('{user-b}')).allowed, { timeoutMs: 3000, intervalMs: 5 });
    assert.ok(
      Date.now() - deniedAt >= denied.retryAfterMs * 0.8,
      'allowed no earlier than retryAfterMs said',
    );
  });

  it('takes n tokens all or nothing', async () => {
    const bucket = createTokenBucket(redis, { keyPrefix: prefix, capacity: 5, refillPerSecond: 0.01 });
    assert.deepEqual(await bucket.take('{user-c}', 3), { allowed: true, remaining: 2, retryAfterMs: 0 });
    const denied = await bucket.take('{user-c}', 3);
    assert.equal(denied.allowed, false);
    assert.equal(denied.remaining, 2);
    assert.ok(denied.retryAfterMs > 99_000 && denied.retryAfterMs <= 100_000, String(denied.retryAfterMs));
    assert.deepEqual(await bucket.take('{user-c}', 2), { allowed: true, remaining: 0, retryAfterMs: 0 });
    await assert.rejects(bucket.take('{user-c}', 6), RangeError);
    await assert.rejects(bucket.take('{user-c}', 0), RangeError);
  });

  it('keys expire once the bucket would be full again', async () => {
    const bucket = createTokenBucket(redis, { keyPrefix: prefix, capacity: 4, refillPerSecond: 0.5 });
    await bucket.take('{user-d}', 2);
    const ttl = await redis.pttl(`${prefix}{user-d}`);
    assert.ok(ttl > 3000 && ttl <= 4000, `pttl ${ttl}: two tokens at 0.5/s refill in 4 s`);

    const fast = createTokenBucket(redis, { keyPrefix: prefix, capacity: 2, refillPerSecond: 50 });
    await fast.take('{user-e}');
    await waitFor(async () => (await redis.exists(`${prefix}{user-e}`)) === 0, { timeoutMs: 2000 });
    assert.equal((await fast.take('{user-e}')).remaining, 1, 'a vanished bucket is a full one');
  });

  it('uses the Redis clock, so a client with a skewed clock cannot refill early', async () => {
    const other = new Redis(REDIS_URL!);
    const realNow = Date.now;
    try {
      const a = createTokenBucket(redis, { keyPrefix: prefix, capacity: 2, refillPerSecond: 0.001 });
      const b = createTokenBucket(other, { keyPrefix: prefix, capacity: 2, refillPerSecond: 0.001 });
      assert.equal((await a.take('{user-f}', 2)).allowed, true);
      Date.now = () => realNow() + 3_600_000;
      assert.equal((await b.take('{user-f}')).allowed, false);
    } finally {
      Date.now = realNow;
      await other.quit();
    }
  });
});
