// The router's Redis clients against a real Redis: each blocking reader waits out a BLOCK longer
// than DEPENDENCY_TIMEOUT_MS on an idle stream and comes back empty, instead of timing out.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startInfra, type Infra } from '@wxmesh/testing';
import { createDeliveryStore } from './delivery-store.js';
import { createInboundStore } from './inbound-store.js';
import { createRouterRedis } from './router-redis.js';

const logger = { warn: () => undefined, info: () => undefined };
/** The production default of DEPENDENCY_TIMEOUT_MS, and a BLOCK twice as long. */
const TIMEOUT_MS = 1_000;
const BLOCK_MS = 2 * TIMEOUT_MS;

let infra: Infra<{ redis: true; kafka: false }>;
let clients: ReturnType<typeof createRouterRedis> | undefined;
let inbound: ReturnType<typeof createInboundStore> | undefined;

before(async () => {
  infra = await startInfra({ redis: true, kafka: false });
});

after(async () => {
  await inbound?.close(); // its reader, whichever connection that is
  if (clients) for (const client of Object.values(clients)) client.disconnect();
  await infra?.stop();
});

test('the queue and inbound readers wait out a BLOCK longer than the dependency timeout', async () => {
  // A database of its own: the queue's and the inbound stream's keys are fixed.
  const url = new URL(infra.redisUrl);
  url.pathname = '/8';
  clients = createRouterRedis(
    { REDIS_URL: url.href, REDIS_MODE: 'standalone', DEPENDENCY_TIMEOUT_MS: TIMEOUT_MS },
    logger,
  );
  const { redis, queueReader, inboundReader } = clients;
  await Promise.all([redis.connect(), queueReader.connect(), inboundReader.connect()]);
  await redis.flushdb();
  const queue = createDeliveryStore(redis, { maxDepth: 100, retentionMs: 60_000, reader: queueReader });
  inbound = createInboundStore(redis, { maxEntries: 100, reader: inboundReader });
  await Promise.all([queue.init(), inbound.ensureGroup()]);

  const started = Date.now();
  const [jobs, entries] = await Promise.all([
    queue.read('spec', 10, BLOCK_MS),
    inbound.read('spec', 10, BLOCK_MS),
  ]);
  assert.deepEqual(jobs, []);
  assert.deepEqual(entries, []);
  assert.ok(Date.now() - started >= BLOCK_MS - 50, 'both reads blocked for their BLOCK time');
});
