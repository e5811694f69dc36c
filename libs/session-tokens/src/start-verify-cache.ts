import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { EventsLogger } from '@wxmesh/events';
import type { Kafka } from 'kafkajs';
import type { Registry } from 'prom-client';
import { createSessionEndedFeed } from './session-ended-feed.js';
import { createVerifyCache, type CachedSession, type VerifyCache } from './verify-cache.js';
import { createVerifyCacheMetrics, type VerifyCacheMetrics } from './verify-cache-metrics.js';

/** Options of {@link startVerifyCache}. */
export interface StartVerifyCacheOptions {
  /** The client the SessionEnded feed consumes with (the service's own). */
  readonly kafka: Kafka;
  readonly logger: EventsLogger;
  /** Clock in epoch milliseconds: the one session expiry times are compared with. */
  readonly now: () => number;
  /** Longest an entry is served (`VERIFY_CACHE_TTL`); never past the session's own expiry either. */
  readonly ttlMs: number;
  /** Most entries, least recently used evicted first (`VERIFY_CACHE_MAX`). */
  readonly maxEntries: number;
  /** The feed counts as down after this long without a completed fetch (`VERIFY_CACHE_FEED_STALE`). */
  readonly feedStaleMs: number;
  /**
   * Metric name prefix, e.g. {@link SESSION_TOKEN_CACHE_METRICS}; auth-verify keeps
   * {@link AUTH_VERIFY_CACHE_METRICS}, the names its dashboards read.
   */
  readonly metricsPrefix: string;
  /** The feed's consumer group is `<groupPrefix>.<replicaId>`, e.g. `behaviour-projector.session-token-cache`. */
  readonly groupPrefix: string;
  /** This process's part of the group id; default its host name plus 8 random hex digits. */
  readonly replicaId?: string;
  /** Where the metrics register; default prom-client's global registry (served on `/metrics`). */
  readonly registry?: Registry;
  /** The topic SessionEnded is produced to; default the behaviour topic. Only tests change it. */
  readonly topic?: string;
}

/** A running cache with its feed; see {@link startVerifyCache}. */
export interface RunningVerifyCache<V extends CachedSession> {
  readonly cache: VerifyCache<V>;
  readonly metrics: VerifyCacheMetrics;
  /** Leaves the feed's group; the cache stops serving (clears and bypasses). */
  stop(): Promise<void>;
}

/**
 * An empty verification cache and the private SessionEnded feed that keeps it correct, started:
 * the cache serves once the feed has joined its group and fetched (health follows, it is not
 * awaited here). The group id is unique to this process: a second member would take half the
 * partitions, and the revocations on them would go unseen here.
 *
 * The behaviour topic must exist (the feed never creates it): call `ensureBehaviourTopics` first
 * where the service creates topics.
 */
export async function startVerifyCache<V extends CachedSession>(
  options: StartVerifyCacheOptions,
): Promise<RunningVerifyCache<V>> {
  const { now, logger } = options;
  const metrics = createVerifyCacheMetrics(options.metricsPrefix, () => cache.size, options.registry);
  const cache = createVerifyCache<V>({
    maxEntries: options.maxEntries,
    ttlMs: options.ttlMs,
    now,
    onServingChange: (serving) => metrics.feedHealthy(serving),
    onInvalidated: (cause, entries) => metrics.invalidated(cause, entries),
    onStoreRefused: () => metrics.storeRefused(),
  });
  const feed = createSessionEndedFeed({
    kafka: options.kafka,
    groupId: `${options.groupPrefix}.${options.replicaId ?? processReplicaId()}`,
    staleMs: options.feedStaleMs,
    now,
    onSessionEnded: (sessionId) => cache.invalidate(sessionId),
    onFresh: (until) => cache.feedFreshUntil(until),
    onDown: () => cache.feedDown(),
    logger,
    ...(options.topic === undefined ? {} : { topic: options.topic }),
  });
  await feed.start();
  return { cache, metrics, stop: () => feed.stop() };
}

/** The host name (as a group id allows it) plus random: unique to this process, readable in Kafka tools. */
function processReplicaId(): string {
  const host = hostname()
    .slice(0, 48)
    .replace(/[^0-9A-Za-z._-]/g, '-');
  return `${host}-${randomBytes(4).toString('hex')}`;
}
