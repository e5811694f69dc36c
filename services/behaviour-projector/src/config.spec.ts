import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '@wxmesh/config';
import { applyModeFor, projectorConfigSchema } from './config.js';

const BASE = { REDIS_URL: 'redis://127.0.0.1:6379', KAFKA_BROKERS: '127.0.0.1:9092' };

test('the apply mode follows REDIS_MODE: per event on a cluster, one script per chunk on one primary', () => {
  assert.equal(loadConfig(projectorConfigSchema, BASE).REDIS_MODE, 'standalone');
  const cluster = loadConfig(projectorConfigSchema, {
    ...BASE,
    REDIS_MODE: 'cluster',
    REDIS_CLUSTER_NODES: '10.0.0.2:6379,10.0.0.3:6379',
  });
  assert.deepEqual(cluster.REDIS_CLUSTER_NODES, ['10.0.0.2:6379', '10.0.0.3:6379']);
  assert.equal(applyModeFor(cluster.REDIS_MODE), 'event');
  assert.equal(applyModeFor('standalone'), 'batch');
  assert.equal(applyModeFor('sentinel'), 'batch');
});

test('a Redis variable of another mode, or a Sentinel mode without its Sentinels, stops the start naming it', () => {
  const failure = (variable: string) => (err: unknown) =>
    err instanceof ConfigError && err.message.includes(variable);
  assert.throws(
    () => loadConfig(projectorConfigSchema, { ...BASE, REDIS_CLUSTER_NODES: '10.0.0.2:6379' }),
    failure('REDIS_CLUSTER_NODES'),
  );
  assert.throws(
    () =>
      loadConfig(projectorConfigSchema, { ...BASE, REDIS_MODE: 'sentinel', REDIS_SENTINEL_NAME: 'mymaster' }),
    failure('REDIS_SENTINELS'),
  );
});
