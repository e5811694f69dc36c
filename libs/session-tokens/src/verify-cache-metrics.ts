import { registeredCounter, registeredGauge } from '@wxmesh/telemetry';
import { register as globalRegister, type Registry } from 'prom-client';

/** What the VerifySession cache reports; see {@link createVerifyCacheMetrics}. */
export interface VerifyCacheMetrics {
  /** One VerifySession (touch=false) lookup: served from the cache, missed, or bypassed (feed down). */
  lookup(result: 'hit' | 'miss' | 'bypass'): void;
  /** Entries removed by a SessionEnded or by the feed going down (`entries` may be 0). */
  invalidated(cause: 'session_ended' | 'feed_down', entries: number): void;
  /** A miss's answer was not kept because the session ended (or the feed broke) during the call. */
  storeRefused(): void;
  /** Whether the invalidation feed is healthy (the cache serves only then). */
  feedHealthy(healthy: boolean): void;
}

/**
 * Registers the cache's metrics (on prom-client's global registry by default, which the kit's
 * `/metrics` serves): `wxmesh_auth_verify_cache_lookups_total{result}`,
 * `wxmesh_auth_verify_cache_invalidations_total{cause}` (entries removed),
 * `wxmesh_auth_verify_cache_session_ended_total` (events seen),
 * `wxmesh_auth_verify_cache_stores_refused_total`, `wxmesh_auth_verify_cache_feed_healthy` (0/1)
 * and `wxmesh_auth_verify_cache_entries` (read from `size` at scrape). Label children are bound
 * once: the lookup counter is on the hot path.
 */
export function createVerifyCacheMetrics(
  size: () => number,
  registry: Registry = globalRegister,
): VerifyCacheMetrics {
  const lookups = registeredCounter(registry, {
    name: 'wxmesh_auth_verify_cache_lookups_total',
    help: 'VerifySession cache lookups (touch=false) by result: hit, miss, or bypass while the feed is down.',
    labelNames: ['result'] as const,
  });
  const invalidations = registeredCounter(registry, {
    name: 'wxmesh_auth_verify_cache_invalidations_total',
    help: 'Cached VerifySession answers removed, by cause: session_ended or feed_down.',
    labelNames: ['cause'] as const,
  });
  const sessionEnded = registeredCounter(registry, {
    name: 'wxmesh_auth_verify_cache_session_ended_total',
    help: 'SessionEnded events the cache invalidation feed has seen.',
  });
  const refused = registeredCounter(registry, {
    name: 'wxmesh_auth_verify_cache_stores_refused_total',
    help: 'VerifySession answers not cached because the session ended or the feed broke during the call.',
  });
  const healthy = registeredGauge(registry, {
    name: 'wxmesh_auth_verify_cache_feed_healthy',
    help: '1 while the SessionEnded feed is joined and fetching (the cache serves), else 0.',
  });
  registeredGauge(registry, {
    name: 'wxmesh_auth_verify_cache_entries',
    help: 'VerifySession answers cached now.',
    collect() {
      this.set(size());
    },
  });
  healthy.set(0);
  const byResult = {
    hit: lookups.labels('hit'),
    miss: lookups.labels('miss'),
    bypass: lookups.labels('bypass'),
  };
  const byCause = {
    session_ended: invalidations.labels('session_ended'),
    feed_down: invalidations.labels('feed_down'),
  };
  return {
    lookup: (result) => byResult[result].inc(),
    invalidated(cause, entries) {
      if (cause === 'session_ended') sessionEnded.inc();
      byCause[cause].inc(entries);
    },
    storeRefused: () => refused.inc(),
    feedHealthy: (ok) => healthy.set(ok ? 1 : 0),
  };
}
