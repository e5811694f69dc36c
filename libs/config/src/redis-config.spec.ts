import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { redisUrl } from './common.js';
import { ConfigError, defineConfig, loadConfig } from './load-config.js';
import { checkRedisConfig, redisConfig, redisConnection } from './redis-config.js';

const schema = defineConfig({ REDIS_URL: redisUrl(), ...redisConfig }).superRefine(checkRedisConfig);

function issuesOf(env: Record<string, string>): string[] {
  try {
    loadConfig(schema, env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.issues.map((issue) => `${issue.variable}: ${issue.message}`);
  }
  assert.fail('expected a ConfigError');
}

describe('redis connection config', () => {
  it('defaults to one standalone server at REDIS_URL', () => {
    const config = loadConfig(schema, { REDIS_URL: 'redis://127.0.0.1:6379' });
    assert.deepEqual(redisConnection(config), { mode: 'standalone', url: 'redis://127.0.0.1:6379' });
  });

  it('sentinel: the Sentinels and the master name, credentials and TLS from REDIS_URL', () => {
    const config = loadConfig(schema, {
      REDIS_URL: 'rediss://:pw@mymaster/2',
      REDIS_MODE: 'sentinel',
      REDIS_SENTINELS: 'sentinel-0:26379, sentinel-1:26379',
      REDIS_SENTINEL_NAME: 'mymaster',
    });
    assert.deepEqual(redisConnection(config), {
      mode: 'sentinel',
      url: 'rediss://:pw@mymaster/2',
      sentinels: ['sentinel-0:26379', 'sentinel-1:26379'],
      sentinelName: 'mymaster',
    });
  });

  it('cluster: REDIS_URL is a seed, REDIS_CLUSTER_NODES more', () => {
    const seedOnly = loadConfig(schema, { REDIS_URL: 'redis://node-0:6379', REDIS_MODE: 'cluster' });
    assert.deepEqual(redisConnection(seedOnly), { mode: 'cluster', url: 'redis://node-0:6379', nodes: [] });
    const seeds = loadConfig(schema, {
      REDIS_URL: 'redis://node-0:6379',
      REDIS_MODE: 'cluster',
      REDIS_CLUSTER_NODES: 'node-1:6379,node-2:6379',
    });
    assert.deepEqual(redisConnection(seeds), {
      mode: 'cluster',
      url: 'redis://node-0:6379',
      nodes: ['node-1:6379', 'node-2:6379'],
    });
  });

  it('a bad combination stops start-up naming each variable', () => {
    assert.deepEqual(issuesOf({ REDIS_URL: 'redis://m', REDIS_MODE: 'sentinel' }), [
      'REDIS_SENTINELS: is required but not set (expected the Sentinels as a host:port list with REDIS_MODE=sentinel)',
      'REDIS_SENTINEL_NAME: is required but not set (expected the monitored master name with REDIS_MODE=sentinel)',
    ]);
    assert.deepEqual(issuesOf({ REDIS_URL: 'redis://m', REDIS_CLUSTER_NODES: 'a:1' }), [
      'REDIS_CLUSTER_NODES: is only read with REDIS_MODE=cluster, got "a:1"',
    ]);
    assert.deepEqual(issuesOf({ REDIS_URL: 'redis://m', REDIS_MODE: 'cluster', REDIS_SENTINELS: 'a:1' }), [
      'REDIS_SENTINELS: is only read with REDIS_MODE=sentinel, got "a:1"',
    ]);
    assert.match(issuesOf({ REDIS_URL: 'redis://m', REDIS_MODE: 'replicated' })[0] ?? '', /^REDIS_MODE: /);
    assert.match(
      issuesOf({ REDIS_URL: 'redis://m', REDIS_MODE: 'cluster', REDIS_CLUSTER_NODES: 'node-1' })[0] ?? '',
      /^REDIS_CLUSTER_NODES: item 1 .*host:port/,
    );
  });
});
