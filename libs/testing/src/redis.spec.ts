import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';
import { startRedis } from './redis.js';
import { canListen } from './test-support.js';

test('startRedis serves PING on loopback without persistence, and stop() frees the port', async () => {
  const redis = await startRedis();
  try {
    assert.equal(redis.url, `redis://127.0.0.1:${redis.port}`);
    const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
    await client.connect();
    try {
      assert.equal(await client.ping(), 'PONG');
      assert.deepEqual(await client.config('GET', 'save'), ['save', '']);
      assert.deepEqual(await client.config('GET', 'appendonly'), ['appendonly', 'no']);
      assert.deepEqual(await client.config('GET', 'dir'), ['dir', redis.dir]);
    } finally {
      client.disconnect();
    }
    assert.equal(await canListen(redis.port), false, 'the port is held while redis runs');
  } finally {
    await redis.stop();
  }
  assert.equal(await canListen(redis.port), true, 'stop() released the port');
  assert.equal(existsSync(redis.dir), false, 'stop() removed the scratch directory');
  await redis.stop();
});

test('startRedis on a taken port fails with redis-server output in the error', async () => {
  const port = await freePort();
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
  try {
    await assert.rejects(startRedis({ port, startTimeoutMs: 5000 }), (err: Error) => {
      assert.match(err.message, new RegExp(`could not start redis-server on 127\\.0\\.0\\.1:${port}`));
      assert.match(err.message, /address already in use/i);
      return true;
    });
  } finally {
    blocker.close();
  }
});
