import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';
import { startInfra } from './infra.js';
import { canListen } from './test-support.js';

test('startInfra uses REDIS_URL and KAFKA_BROKERS from the environment and starts nothing', async () => {
  const env = {
    REDIS_URL: 'redis://redis.example:6390',
    KAFKA_BROKERS: 'kafka-a.example:9092,kafka-b.example:9092',
  };
  const infra = await startInfra({ env });
  assert.equal(infra.redisUrl, env.REDIS_URL);
  assert.equal(infra.kafkaBrokers, env.KAFKA_BROKERS);
  assert.deepEqual(infra.started, {});
  await infra.stop();
});

test('startInfra starts only what is asked for, and stop() stops it', async () => {
  const infra = await startInfra({ redis: true, kafka: false, env: {} });
  assert.equal(infra.kafkaBrokers, undefined);
  assert.equal(infra.started.kafka, undefined);
  const port = infra.started.redis!.port;
  const client = new Redis(infra.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0 });
  await client.connect();
  assert.equal(await client.ping(), 'PONG');
  client.disconnect();
  await infra.stop();
  assert.equal(await canListen(port), true, 'the Redis it started is gone');
});

test('when one server fails to start, startInfra stops the other before failing', async () => {
  // A "cached" Kafka whose jars are missing: the storage format step fails at once, offline.
  const cacheDir = await mkdtemp(join(tmpdir(), 'wxmesh-broken-kafka-'));
  await mkdir(join(cacheDir, 'libs'));
  await writeFile(join(cacheDir, 'libs', '.complete.json'), '{"jars":[]}');
  const redisPort = await freePort();
  try {
    await assert.rejects(
      startInfra({ env: {}, redisOptions: { port: redisPort }, kafkaOptions: { cacheDir } }),
      /kafka-storage format failed/,
    );
    assert.equal(await canListen(redisPort), true, 'the Redis that did start was stopped');
  } finally {
    await rm(cacheDir, { recursive: true, force: true });
  }
});
