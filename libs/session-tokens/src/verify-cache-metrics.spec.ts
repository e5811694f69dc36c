import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import {
  AUTH_VERIFY_CACHE_METRICS,
  createVerifyCacheMetrics,
  SESSION_TOKEN_CACHE_METRICS,
} from './verify-cache-metrics.js';

test("each prefix names its own series: auth-verify's names are unchanged, other services get their own", async () => {
  const registry = new Registry();
  const auth = createVerifyCacheMetrics(AUTH_VERIFY_CACHE_METRICS, () => 2, registry);
  const edge = createVerifyCacheMetrics(SESSION_TOKEN_CACHE_METRICS, () => 5, registry);
  auth.lookup('hit');
  edge.lookup('miss');
  edge.feedHealthy(true);
  edge.invalidated('session_ended', 1);
  const text = await registry.metrics();
  for (const line of [
    'wxmesh_auth_verify_cache_lookups_total{result="hit"} 1',
    'wxmesh_auth_verify_cache_feed_healthy 0',
    'wxmesh_auth_verify_cache_entries 2',
    'wxmesh_session_token_cache_lookups_total{result="miss"} 1',
    'wxmesh_session_token_cache_feed_healthy 1',
    'wxmesh_session_token_cache_session_ended_total 1',
    'wxmesh_session_token_cache_invalidations_total{cause="session_ended"} 1',
    'wxmesh_session_token_cache_entries 5',
  ]) {
    assert.ok(text.split('\n').includes(line), `missing: ${line}`);
  }
});

test('a prefix that is not a metric name is refused at start-up', () => {
  assert.throws(
    () => createVerifyCacheMetrics('session-token cache', () => 0, new Registry()),
    /not a Prometheus/,
  );
});
