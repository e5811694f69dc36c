import { createEventConsumer, type EventConsumer, type EventsLogger } from '@wxmesh/events';
import { registeredCounter } from '@wxmesh/telemetry';
import { ReplyError } from 'ioredis';
import type { Kafka } from 'kafkajs';
import { register as globalRegister, type Counter, type Registry } from 'prom-client';
import { LayoutMismatchError, type ApplyCounts, type ReadModelStore } from '../adapters/read-models.js';
import type { ProjectorConfig } from '../config.js';
import { PoisonEventError } from '../domain/projection.js';
import { projectBatch } from './project-batch.js';

/** Options of {@link createProjector}. */
export interface ProjectorOptions {
  kafka: Kafka;
  store: ReadModelStore;
  config: Pick<
    ProjectorConfig,
    | 'EVENTS_TOPIC'
    | 'EVENTS_DLQ_TOPIC'
    | 'CONSUMER_SESSION_TIMEOUT'
    | 'CONSUMER_HEARTBEAT_INTERVAL'
    | 'APPLY_MAX_ATTEMPTS'
    | 'APPLY_RETRY_BACKOFF'
    | 'APPLY_CHUNK'
  >;
  groupId: string;
  /**
   * The one generation to write (a rebuild's); by default the live ones, active and shadow, which
   * the store reads as it applies each chunk.
   */
  generation?: string;
  logger?: EventsLogger;
  registry?: Registry;
}

// Redis answers these while it cannot serve for now; any other reply error (a script error, a
// wrong type) is about what was sent and will not pass on retry.
const TRANSIENT_REPLY = /^(LOADING|READONLY|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|BUSY|OOM|NOREPLICAS)\b/;

/**
 * What the projector retries without limit: Redis being unreachable or temporarily refusing, and
 * a live generation of another journey layout (it waits for a rebuild to swap in a new one).
 * Poison events (the domain's {@link PoisonEventError}) and script errors are dead-lettered
 * after the consumer's attempts instead.
 */
export function isTransientFailure(err: unknown): boolean {
  if (err instanceof PoisonEventError) return false;
  if (err instanceof LayoutMismatchError) return true;
  if (err instanceof ReplyError) return TRANSIENT_REPLY.test((err as Error).message);
  return true;
}

/** The counter of events folded into the active generation, by outcome. */
function outcomesCounter(registry: Registry): Counter<'group' | 'outcome'> {
  return registeredCounter(registry, {
    name: 'wxmesh_projector_events_total',
    help: 'Events folded into the active generation: new, or duplicate (already applied, nothing changed).',
    labelNames: ['group', 'outcome'],
  });
}

/** Counts one chunk's outcomes. */
function countOutcomes(outcomes: Counter<'group' | 'outcome'>, group: string, counts: ApplyCounts): void {
  if (counts.applied > 0) outcomes.inc({ group, outcome: 'new' }, counts.applied);
  if (counts.duplicates > 0) outcomes.inc({ group, outcome: 'duplicate' }, counts.duplicates);
}

/**
 * The behaviour projector's consumer: folds every event of the topic into the read models of
 * the target generations, one Redis round trip per chunk. Events already applied (by event_id)
 * change nothing, so redeliveries after crashes and rebalances are harmless.
 */
export function createProjector(options: ProjectorOptions): EventConsumer {
  const { config, store, groupId } = options;
  const registry = options.registry ?? globalRegister;
  const outcomes = outcomesCounter(registry);
  return createEventConsumer({
    kafka: options.kafka,
    groupId,
    topic: config.EVENTS_TOPIC,
    dlqTopic: config.EVENTS_DLQ_TOPIC,
    maxAttempts: config.APPLY_MAX_ATTEMPTS,
    retryBackoffMs: config.APPLY_RETRY_BACKOFF,
    chunkSize: config.APPLY_CHUNK,
    isTransient: isTransientFailure,
    consumer: {
      sessionTimeout: config.CONSUMER_SESSION_TIMEOUT,
      heartbeatInterval: config.CONSUMER_HEARTBEAT_INTERVAL,
      maxBytes: 10 << 20,
    },
    logger: options.logger,
    registry,
    async apply(events) {
      countOutcomes(outcomes, groupId, await projectBatch(store, events, options.generation));
    },
  });
}
