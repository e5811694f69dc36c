import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
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

/** The servers (and mvn) this test process started that still run; tsx's esbuild is no server. */
const ownChildren = () =>
  execFileSync('ps', ['-o', 'pid=,comm=', '--ppid', String(process.pid)], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => /\b(redis-server|java|mvn)\b/.test(line));

test('when Redis cannot start, the Kafka start under way is abandoned: one error, no process left', async () => {
  const redisPort = await freePort();
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(redisPort, '127.0.0.1', resolve));
  const progress: string[] = [];
  try {
    await assert.rejects(
      startInfra({ env: {}, redisOptions: { port: redisPort }, progress: (line) => progress.push(line) }),
      (err: Error) => {
        assert.ok(!(err instanceof AggregateError), `only Redis's failure is reported: ${err.message}`);
        assert.match(err.message, /could not start redis-server .*address already in use/is);
        return true;
      },
    );
  } finally {
    blocker.close();
  }
  assert.deepEqual(ownChildren(), [], 'no redis-server, java or mvn is left running');
  assert.ok(progress.includes('Redis: starting...'), progress.join('\n'));
  assert.ok(
    progress.some((line) => /^Redis: failed after [\d.]+ s$/.test(line)),
    progress.join('\n'),
  );
});

test('aborting startInfra stops what it started and rejects with the reason', async () => {
  const ac = new AbortController();
  const progress: string[] = [];
  const starting = startInfra({
    env: {},
    signal: ac.signal,
    progress: (line) => {
      progress.push(line);
      // Redis is up and Kafka is still starting: the user presses Ctrl-C.
      if (line.startsWith('Redis: ready at')) ac.abort(new Error('interrupted'));
    },
  });
  await assert.rejects(starting, /^Error: interrupted$/);
  assert.deepEqual(ownChildren(), [], 'the Redis that started and the broker that was starting are gone');
  const redisUrl = /^Redis: ready at (\S+)/m.exec(progress.join('\n'))?.[1];
  assert.ok(redisUrl, progress.join('\n'));
  assert.equal(await canListen(Number(new URL(redisUrl).port)), true, 'its port is free again');
  assert.ok(
    progress.some((line) => /^Kafka [\d.]+: abandoned after [\d.]+ s$/.test(line)),
    progress.join('\n'),
  );
});
