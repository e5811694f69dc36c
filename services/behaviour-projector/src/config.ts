import {
  checkRedisConfig,
  defineConfig,
  domainServiceConfig,
  duration,
  integer,
  type RedisMode,
} from '@wxmesh/config';
import { BEHAVIOUR_DLQ_TOPIC, BEHAVIOUR_TOPIC } from '@wxmesh/events';
import { bearerTokenConfig } from '@wxmesh/session-tokens';
import { z } from 'zod';
import { DEFAULT_DEDUPE_WINDOW_MS } from './adapters/read-models.js';

const topicName = () =>
  z
    .string()
    .trim()
    .regex(/^[0-9A-Za-z._-]{1,249}$/, 'expected a Kafka topic name (1..249 of [0-9A-Za-z._-])');

/** The projector's configuration (service and rebuild command); durations like `500ms`, `6s`, `2m`. */
export const projectorConfigSchema = defineConfig({
  ...domainServiceConfig,
  /** Bearer session tokens at the edge: `AUTH_VERIFY_ADDR` and the verified-token cache. */
  ...bearerTokenConfig,
  /** The behaviour topic consumed; only tests change it. */
  EVENTS_TOPIC: topicName().default(BEHAVIOUR_TOPIC),
  /** Where records that cannot be applied go; only tests change it. */
  EVENTS_DLQ_TOPIC: topicName().default(BEHAVIOUR_DLQ_TOPIC),
  /** The live consumer group; a rebuild uses `<group>.rebuild.<generation>`. */
  CONSUMER_GROUP: z
    .string()
    .trim()
    .regex(/^[0-9A-Za-z._-]{1,200}$/, 'expected 1..200 of [0-9A-Za-z._-]')
    .default('behaviour-projector'),
  /** How long the group waits for a silent member (a killed pod) before moving its partitions. */
  CONSUMER_SESSION_TIMEOUT: duration().default(30_000),
  /** Heartbeat interval; at most a third of CONSUMER_SESSION_TIMEOUT. */
  CONSUMER_HEARTBEAT_INTERVAL: duration().default(3_000),
  /** Attempts of one event before it is dead-lettered (transient Redis failures do not count). */
  APPLY_MAX_ATTEMPTS: integer({ min: 1, max: 100 }).default(5),
  /** First pause between attempts, doubling up to 5s. */
  APPLY_RETRY_BACKOFF: duration().default(100),
  /** Events applied per Redis round trip. */
  APPLY_CHUNK: integer({ min: 1, max: 10_000 }).default(500),
  /**
   * How far behind a user's newest event (by occurred_at) an event is still deduplicated: its
   * marker is pruned after that. Longer than any redelivery can reach back; the same for the live
   * projector and a rebuild.
   */
  DEDUPE_WINDOW: duration().default(DEFAULT_DEDUPE_WINDOW_MS),
  /** Redis key prefix of the read models; tests sharing a Redis use their own. */
  KEY_PREFIX: z
    .string()
    .regex(/^[0-9A-Za-z:._-]{1,64}$/, 'expected 1..64 of [0-9A-Za-z:._-]')
    .default('wxm:projector:'),
}).superRefine((config, ctx) => {
  checkRedisConfig(config, ctx);
  if (config.CONSUMER_HEARTBEAT_INTERVAL * 3 > config.CONSUMER_SESSION_TIMEOUT) {
    ctx.addIssue({
      code: 'custom',
      path: ['CONSUMER_HEARTBEAT_INTERVAL'],
      message: 'must be at most a third of CONSUMER_SESSION_TIMEOUT',
    });
  }
  if (config.EVENTS_TOPIC === config.EVENTS_DLQ_TOPIC) {
    ctx.addIssue({ code: 'custom', path: ['EVENTS_DLQ_TOPIC'], message: 'must differ from EVENTS_TOPIC' });
  }
});

export type ProjectorConfig = z.output<typeof projectorConfigSchema>;

/**
 * How the read-model store applies a chunk on Redis of `mode`: `batch` (one script per chunk, the
 * fast path) on a single primary (standalone, Sentinel); `event` (one script per event on its
 * user's slot, and each funnel SADD apart) on a Redis Cluster, where a script may touch the keys of
 * one slot only. It follows REDIS_MODE and nothing else, so it is not a setting of its own.
 */
export function applyModeFor(mode: RedisMode): 'batch' | 'event' {
  return mode === 'cluster' ? 'event' : 'batch';
}
