import type { Kafka } from 'kafkajs';
import type { Logger } from '@wxmesh/rpc';
import { AUTH_VERIFY_CACHE_METRICS, startVerifyCache, type RunningVerifyCache } from '@wxmesh/session-tokens';
import type { VerifyAnswer } from '../app/verify-session.js';

/** The verify cache's settings: `ttlMs` 0 turns the cache and its feed off. */
export interface VerifyCacheSettings {
  readonly ttlMs: number;
  readonly maxEntries: number;
  readonly feedStaleMs: number;
}

/**
 * VerifySession's warm cache and the private `SessionEnded` feed that invalidates it (a consumer
 * group of this replica's own); undefined when the settings turn it off.
 */
export async function startAuthVerifyCache(
  deps: { kafka: Kafka; logger: Logger; now: () => number },
  settings: VerifyCacheSettings,
): Promise<RunningVerifyCache<VerifyAnswer> | undefined> {
  if (settings.ttlMs === 0) return undefined;
  return startVerifyCache<VerifyAnswer>({
    kafka: deps.kafka,
    logger: deps.logger,
    now: deps.now,
    ttlMs: settings.ttlMs,
    maxEntries: settings.maxEntries,
    feedStaleMs: settings.feedStaleMs,
    metricsPrefix: AUTH_VERIFY_CACHE_METRICS,
    groupPrefix: 'auth-verify.verify-cache',
  });
}
