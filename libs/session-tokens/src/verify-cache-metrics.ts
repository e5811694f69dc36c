import { registeredCounter, registeredGauge } from '@wxmesh/telemetry';
import { register as globalRegister, type Registry } from 'prom-client';

/** What a session-token cache reports; see {@link createVerifyCacheMetrics}. */
export interface VerifyCacheMetrics {
  /** One lookup of a token (auth-verify: VerifySession without touch): served, missed, or bypassed (feed down). */
  lookup(result: 'hit' | 'miss' | 'bypass'): void;
  /** Entries removed by a SessionEnded or by the feed going down (`entries` may be 0). */
  invalidated(cause: 'session_ended' | 'feed_down', entries: number): void;
  /** A miss's answer was not kept because the session ended (or the feed broke) during the lookup. */
  storeRefused(): void;
  /** Whether the invalidation feed is healthy (the cache serves only then). */
  feedHealthy(healthy: boolean): void;
}

/** Metric name prefix of auth-verify's VerifySession cache (its dashboards and tests read these names). */
export const AUTH_VERIFY_CACHE_METRICS = 'wxmesh_auth_verify_cache';
/** Metric name prefix of the cache in front of auth-verify, in every other service that accepts session tokens. */
export const SESSION_TOKEN_CACHE_METRICS = 'wxmesh_session_token_cache';

/**
 * Registers a cache's metrics under `prefix` (on prom-client's global registry by default, which
 * the kit's `/metrics` serves): `<prefix>_lookups_total{result}`,
 * `<prefix>_invalidations_total{cause}` (entries removed), `<prefix>_session_ended_total` (events
 * seen), `<prefix>_stores_refused_total`, `<prefix>_feed_healthy` (0/1) and `<prefix>_entries`
 * (read from `size` at scrape). One prefix per process: a second cache under the same prefix
 * shares the series. Label children are bound once: the lookup counter is on the hot path.
 */
export function createVerifyCacheMetrics(
  prefix: string,
  size: () => number,
  registry: Registry = globalRegister,
): VerifyCacheMetrics {
  if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(prefix))
    throw new Error(`createVerifyCacheMetrics: "${prefix}" is not a Prometheus metric name prefix`);
  const lookups = registeredCounter(registry, {
    name: `${prefix}_lookups_total`,
    help: 'Session-token cache lookups by result: hit, miss, or bypass while the feed is down.',
    labelNames: ['result'] as const,
  });
  const invalidations = registeredCounter(registry, {
    name: `${prefix}_invalidations_total`,
    help: 'Cached session tokens removed, by cause: session_ended or feed_down.',
    labelNames: ['cause'] as const,
  });
  const sessionEnded = registeredCounter(registry, {
    name: `${prefix}_session_ended_total`,
    help: 'SessionEnded events the cache invalidation feed has seen.',
  });
  const refused = registeredCounter(registry, {
    name: `${prefix}_stores_refused_total`,
    help: 'Verified sessions not cached because the session ended or the feed broke during the lookup.',
  });
  const healthy = registeredGauge(registry, {
    name: `${prefix}_feed_healthy`,
    help: '1 while the SessionEnded feed is joined and fetching (the cache serves), else 0.',
  });
  registeredGauge(registry, {
    name: `${prefix}_entries`,
    help: 'Verified session tokens cached now.',
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
