// The projector on a 3-master Redis Cluster (REDIS_MODE=cluster), with users whose keys lie on
// every master: the store's per-event mode must leave, key by key, what the standalone batch mode
// leaves (journeys, funnels over several days, a shadow generation, a dropped one), and the service
// and its rebuild command, as processes, must serve, rebuild, swap and drop there.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { behaviourEvent, createEventProducer, ensureBehaviourTopics } from '@wxmesh/events';
import {
  scaledTimeout,
  startInfra,
  startRedisCluster,
  waitFor,
  type Infra,
  type RedisCluster,
} from '@wxmesh/testing';
import type { RedisClient } from '@wxmesh/redis';
import { Redis } from 'ioredis';
import kafkajs from 'kafkajs';
import { createApplyRedis, readModelStoreOptions } from '../src/adapters/read-model-redis.js';
import {
  createReadModelStore,
  DEFAULT_DEDUPE_WINDOW_MS,
  type ReadModelStore,
} from '../src/adapters/read-models.js';
import type { FunnelCounts } from '../src/domain/journey.js';
import { FUNNEL_STEPS, type Projection } from '../src/domain/projection.js';
import { dumpKeys, RUN, runRebuild, setupFor, startProjector, type Setup } from './support.js';

const APPID = 'wx00000000000000c3';
const DAYS = ['2025-01-01', '2025-01-02', '2025-01-03'];
const quiet = { warn: () => undefined, info: () => undefined };

let infra: Infra<{ redis: true; kafka: true }>;
let cluster: RedisCluster;
let standalone: Redis;
let clustered: RedisClient;

before(async () => {
  [infra, cluster] = await Promise.all([startInfra({ redis: true, kafka: true }), startRedisCluster()]);
  standalone = new Redis(infra.redisUrl);
  // The client the projector applies chunks on, from the configuration it would be given.
  clustered = createApplyRedis(
    {
      REDIS_URL: cluster.url,
      REDIS_MODE: 'cluster',
      REDIS_CLUSTER_NODES: cluster.nodes.slice(1),
      DEPENDENCY_TIMEOUT_MS: scaledTimeout(5_000),
    },
    quiet,
    'projector-cluster-spec',
  );
  await clustered.connect();
});

after(async () => {
  clustered?.disconnect();
  await standalone?.quit();
  await Promise.all([cluster?.stop(), infra?.stop()]);
});

/** `perMaster` openids whose keys (tagged by openid) lie on each master, so every step crosses nodes. */
const usersOnEveryMaster = (tag: string, perMaster: number) =>
  cluster.namesOnEveryMaster((i) => `o${RUN}${tag}_${i}`, perMaster);

/** Every key under `prefix` on every master, as dumpKeys reads one server. */
async function clusterKeys(prefix: string): Promise<{ keys: Map<string, unknown>; mastersHolding: number }> {
  const perMaster = await Promise.all(cluster.client.nodes('master').map((node) => dumpKeys(node, prefix)));
  const keys = new Map(perMaster.flatMap((dump) => [...dump]));
  return { keys, mastersHolding: perMaster.filter((dump) => dump.size > 0).length };
}

const sorted = (keys: Map<string, unknown>) => [...keys].sort(([a], [b]) => (a < b ? -1 : 1));

/** Six events per user over three days, each in one funnel step; the third is a phone binding. */
function projectionsFor(openids: readonly string[]): Projection[] {
  return openids.flatMap((openid, u) =>
    Array.from({ length: 6 }, (_, k): Projection => {
      const d = (u + k) % DAYS.length;
      return {
        openid,
        eventId: `e-${u}-${k}`,
        at: Date.UTC(2025, 0, 1 + d, 2) + k,
        appid: APPID,
        unionid: k % 2 === 0 ? `un_${u}` : '',
        eventType: 'user_logged_in',
        increments: [['logins', 1]],
        ...(k === 2 ? { flag: 'phone' as const } : {}),
        funnel: { appid: APPID, day: DAYS[d]!, step: FUNNEL_STEPS[k % FUNNEL_STEPS.length]! },
      };
    }),
  );
}

/**
 * What the live projectors and a rebuild do to a store, in order: apply, begin a shadow, apply to
 * both generations (with redeliveries), replay into the shadow, swap, read, drop the old one.
 * Resolves with every step's result and the keys after the last apply.
 */
async function liveAndRebuild(
  store: ReadModelStore,
  events: readonly Projection[],
  readKeys: () => Promise<Map<string, unknown>>,
) {
  const [first, second] = [events.filter((_, i) => i % 2 === 0), events.filter((_, i) => i % 2 === 1)];
  const results: unknown[] = [await store.apply(first)];
  results.push(await store.beginShadow('g2'));
  results.push(await store.apply([...second, ...first.slice(0, 5)]));
  results.push(await store.apply(first, 'g2'));
  results.push(await store.swap('g2'));
  results.push(await store.funnel(APPID, DAYS));
  results.push(await store.journey(events[0]!.openid));
  results.push(await store.appliedEventIds('g2', events[0]!.openid));
  const keysBeforeDrop = await readKeys();
  results.push(await store.dropGeneration('g1'));
  return { results, keysBeforeDrop, keysAfterDrop: await readKeys() };
}

test('on the cluster the per-event store leaves, key by key, what the standalone batch store leaves', async () => {
  const openids = await usersOnEveryMaster('s', 2);
  const events = projectionsFor(openids);
  const prefix = `wxm:cluster-spec:${randomBytes(3).toString('hex')}:`;
  const options = (mode: 'standalone' | 'cluster') =>
    readModelStoreOptions(
      { KEY_PREFIX: prefix, DEDUPE_WINDOW: DEFAULT_DEDUPE_WINDOW_MS, REDIS_MODE: mode },
      () => 'g1',
    );
  assert.equal(options('cluster').applyMode, 'event');
  assert.equal(options('standalone').applyMode, 'batch');

  const reference = await liveAndRebuild(
    createReadModelStore(standalone, options('standalone')),
    events,
    () => dumpKeys(standalone, prefix),
  );
  let mastersHolding = 0;
  const onCluster = await liveAndRebuild(
    createReadModelStore(clustered, options('cluster')),
    events,
    async () => {
      const read = await clusterKeys(prefix);
      mastersHolding = Math.max(mastersHolding, read.mastersHolding);
      return read.keys;
    },
  );

  assert.equal(mastersHolding, 3, 'the read models lie on every master');
  assert.deepEqual(onCluster.results, reference.results);
  assert.deepEqual(sorted(onCluster.keysBeforeDrop), sorted(reference.keysBeforeDrop));
  assert.deepEqual(sorted(onCluster.keysAfterDrop), sorted(reference.keysAfterDrop));
  // The reference itself: every event applied once, funnels on every day, g1 gone.
  const [applied, , live, replayed, previous, funnel, , , dropped] = reference.results;
  assert.deepEqual(applied, { applied: events.length / 2, duplicates: 0 });
  assert.deepEqual(live, { applied: events.length / 2, duplicates: 5 });
  assert.deepEqual(replayed, { applied: events.length / 2 - 5, duplicates: 5 });
  assert.equal(previous, 'g1');
  const usersPerDay = (funnel as FunnelCounts[]).map((day) =>
    FUNNEL_STEPS.reduce((sum, step) => sum + day[step], 0),
  );
  assert.deepEqual(usersPerDay, [12, 12, 12], 'two events of each of 6 users on each day');
  assert.ok(Number(dropped) > openids.length, `the old generation's keys were dropped (${dropped})`);
  assert.ok(![...reference.keysAfterDrop.keys()].some((k) => k.startsWith('g1:')));
});

test('the service and its rebuild on the cluster: journeys and a three-day funnel, the old generation dropped from every master', async () => {
  const s: Setup = {
    ...setupFor({ redisUrl: cluster.url, kafkaBrokers: infra.kafkaBrokers }, 'cluster'),
    redisEnv: { REDIS_MODE: 'cluster', REDIS_CLUSTER_NODES: cluster.nodes.slice(1).join(',') },
  };
  const openids = await usersOnEveryMaster('p', 2);
  const kafka = new kafkajs.Kafka({
    clientId: `projector-cluster-test-${RUN}`,
    brokers: infra.kafkaBrokers.split(','),
    logLevel: kafkajs.logLevel.NOTHING,
  });
  await ensureBehaviourTopics(kafka, { topic: s.topic, dlqTopic: s.dlqTopic, partitions: 3 });
  const producer = createEventProducer({ kafka, producer: 'test', topic: s.topic });
  await producer.connect();
  try {
    await producer.emit(
      ...openids.flatMap((openid, u) =>
        DAYS.map((_, d) =>
          behaviourEvent({
            eventId: `${RUN}-cluster-${u}-${d}`,
            aggregateId: `user:${u}`,
            occurredAt: Date.UTC(2025, 0, 1 + d, 2),
            producer: 'test',
            wechat: { openid, appid: APPID },
            payload: { case: 'userLoggedIn', value: { sessionId: `s${d}` } },
          }),
        ),
      ),
    );
  } finally {
    await producer.disconnect();
  }

  const projector = await startProjector(s);
  try {
    const loggedInThrice = async () => {
      for (const openid of openids) {
        const { journey } = await projector.client.getUserJourney({ openid });
        if (journey?.loginCount !== 3) return false;
      }
      return true;
    };
    const wait = { timeoutMs: scaledTimeout(30_000), intervalMs: 200 };
    await waitFor(loggedInThrice, { ...wait, message: 'every user’s three logins folded' });
    const funnel = await projector.client.getFunnel({ appid: APPID, startDate: DAYS[0], endDate: DAYS[2] });
    assert.deepEqual(
      funnel.days.map((d) => [d.date, d.loggedIn]),
      DAYS.map((day) => [day, openids.length]),
    );

    const before = await cluster.client.hget(`${s.prefix}generations`, 'active');
    const rebuilt = await runRebuild(s, ['--drop-after', '1s']);
    assert.equal(rebuilt.swapped, true);
    assert.equal(rebuilt.previous, before);
    assert.equal(await cluster.client.hget(`${s.prefix}generations`, 'active'), rebuilt.generation);
    assert.equal(await loggedInThrice(), true, 'the rebuilt generation serves the same journeys');
    const { keys } = await clusterKeys(s.prefix);
    assert.ok(![...keys.keys()].some((k) => k.startsWith(`${before}:`)), 'the old generation was dropped');
    assert.ok([...keys.keys()].some((k) => k.startsWith(`${rebuilt.generation}:`)));
  } finally {
    projector.process.child.kill('SIGTERM');
    await projector.process.exited;
  }
});
