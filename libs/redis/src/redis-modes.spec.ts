import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Cluster, Redis } from 'ioredis';
import {
  startRedisCluster,
  startRedisSentinel,
  type RedisCluster,
  type RedisSentinel,
} from '@wxmesh/testing';
import { createRedisClient, isRedisUnavailable, pingRedis } from './index.js';
import { hostAndPort, urlSecurity } from './redis-connection.js';

const TIMEOUT_MS = 300;
const logger = { warn: () => undefined, info: () => undefined };

describe('connection settings from a URL', () => {
  test('credentials, database and TLS', () => {
    assert.deepEqual(urlSecurity('rediss://app%40x:p%2Fw@mymaster:6380/3'), {
      username: 'app@x',
      password: 'p/w',
      db: 3,
      tls: true,
    });
    assert.deepEqual(urlSecurity('redis://10.0.0.1:6379'), { tls: false });
    assert.deepEqual(urlSecurity('redis://:secret@node-0'), { password: 'secret', tls: false });
  });

  test('host:port seeds, IPv6 in brackets', () => {
    assert.deepEqual(hostAndPort('sentinel-0.redis:26379'), { host: 'sentinel-0.redis', port: 26379 });
    assert.deepEqual(hostAndPort('[::1]:7000'), { host: '::1', port: 7000 });
    assert.throws(() => hostAndPort('node-1'), /expected host:port/);
  });
});

describe('cluster mode against a 3-master Redis Cluster', () => {
  let cluster: RedisCluster;
  before(async () => {
    cluster = await startRedisCluster();
  });
  after(async () => {
    await cluster?.stop();
  });

  test('one seed is enough: commands reach the node owning each slot', async () => {
    const client = createRedisClient({
      connection: { mode: 'cluster', url: cluster.url, nodes: [] },
      name: 'spec-cluster',
      logger,
      timeoutMs: TIMEOUT_MS,
    });
    assert.ok(client instanceof Cluster);
    await client.connect();
    await pingRedis(client);
    const keys = Array.from({ length: 30 }, (_, i) => `wxm:spec:{user-${i}}:k`);
    await Promise.all(keys.map((key, i) => client.set(key, String(i))));
    const owners = new Set(
      await Promise.all(
        keys.map(async (key) => String(await cluster.client.call('CLUSTER', 'KEYSLOT', key))),
      ),
    );
    assert.ok(owners.size > 1, 'the keys spread over several slots');
    assert.deepEqual(
      await Promise.all(keys.map((key) => client.get(key))),
      keys.map((_, i) => String(i)),
    );
    // Keys sharing a hash tag share a slot, so a multi-key command on them is allowed ...
    await client.mset('wxm:spec:{u1}:a', '1', 'wxm:spec:{u1}:b', '2');
    // ... and keys that do not are a command error (CROSSSLOT), not an outage.
    const failure = await client.mget('wxm:spec:{u1}:a', 'wxm:spec:{u2}:a').then(
      () => assert.fail('a cross-slot MGET succeeded'),
      (err: unknown) => err,
    );
    assert.match(String(failure), /CROSSSLOT/);
    assert.equal(isRedisUnavailable(failure), false);
    client.disconnect();
  });

  test('a frozen node: commands for its slots fail within the timeout as Unavailable', async () => {
    const client = createRedisClient({
      connection: { mode: 'cluster', url: cluster.url, nodes: cluster.nodes.slice(1) },
      name: 'spec-cluster-frozen',
      logger,
      timeoutMs: TIMEOUT_MS,
    });
    await client.connect();
    const frozen = cluster.servers[1];
    assert.ok(frozen);
    const key = await keyOnNode(cluster, frozen.port);
    await client.set(key, 'v');
    frozen.pause();
    try {
      const started = performance.now();
      const failure = await client.get(key).then(
        () => assert.fail('a frozen node answered'),
        (err: unknown) => err,
      );
      const waited = performance.now() - started;
      assert.ok(isRedisUnavailable(failure), `recognised: ${String(failure)}`);
      assert.ok(waited < TIMEOUT_MS * 10, `failed after ${waited.toFixed(0)} ms`);
    } finally {
      frozen.resume();
    }
    assert.equal(await client.get(key), 'v');
    client.disconnect();
  });
});

/** A key whose slot `port`'s node serves. */
async function keyOnNode(cluster: RedisCluster, port: number): Promise<string> {
  const slots = (await cluster.client.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number]]>;
  for (let i = 0; i < 1000; i++) {
    const key = `wxm:spec:{probe-${i}}`;
    const slot = Number(await cluster.client.call('CLUSTER', 'KEYSLOT', key));
    const owner = slots.find(([from, to]) => slot >= from && slot <= to);
    if (owner?.[2][1] === port) return key;
  }
  throw new Error(`no probe key lands on the node at port ${port}`);
}

describe('sentinel mode against a primary and a Sentinel', () => {
  let sentinel: RedisSentinel;
  before(async () => {
    sentinel = await startRedisSentinel();
  });
  after(async () => {
    await sentinel?.stop();
  });

  test('the Sentinel names the primary; a frozen primary fails commands within the timeout', async () => {
    const client = createRedisClient({
      connection: {
        mode: 'sentinel',
        url: `redis://${sentinel.name}/2`,
        sentinels: [sentinel.sentinel],
        sentinelName: sentinel.name,
      },
      name: 'spec-sentinel',
      logger,
      timeoutMs: TIMEOUT_MS,
    });
    await client.connect();
    await client.set('wxm:spec:sentinel', 'v');
    assert.equal(await client.get('wxm:spec:sentinel'), 'v');
    // It reached the primary the Sentinel named, in the database REDIS_URL names.
    const direct = new Redis(`${sentinel.primary.url}/2`);
    try {
      assert.equal(await direct.get('wxm:spec:sentinel'), 'v');
    } finally {
      direct.disconnect();
    }
    sentinel.primary.pause();
    try {
      const started = performance.now();
      const failure = await client.get('wxm:spec:sentinel').then(
        () => assert.fail('a frozen primary answered'),
        (err: unknown) => err,
      );
      assert.ok(isRedisUnavailable(failure), `recognised: ${String(failure)}`);
      assert.ok(performance.now() - started < TIMEOUT_MS * 10);
    } finally {
      sentinel.primary.resume();
    }
    client.disconnect();
  });
});
