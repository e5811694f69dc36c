import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { registeredCounter, registeredGauge, registeredHistogram } from './metrics.js';

test('a metric is registered once per registry and shared by every later caller', async () => {
  const one = new Registry();
  const other = new Registry();
  const config = { name: 'wxmesh_test_total', help: 'test', labelNames: ['kind'] as const };
  const counter = registeredCounter(one, config);
  assert.equal(registeredCounter(one, config), counter);
  assert.notEqual(registeredCounter(other, config), counter);
  counter.inc({ kind: 'a' }, 2);
  registeredCounter(one, config).inc({ kind: 'a' });
  assert.match(await one.metrics(), /wxmesh_test_total\{kind="a"\} 3/);
  assert.doesNotMatch(await other.metrics(), /kind="a"/);

  const gauge = registeredGauge(one, { name: 'wxmesh_test_gauge', help: 'test' });
  assert.equal(registeredGauge(one, { name: 'wxmesh_test_gauge', help: 'test' }), gauge);
  const histogram = registeredHistogram(one, { name: 'wxmesh_test_seconds', help: 'test', buckets: [1] });
  assert.equal(registeredHistogram(one, { name: 'wxmesh_test_seconds', help: 'test' }), histogram);
  assert.equal(one.getMetricsAsArray().length, 3);
});
