import type { Context } from '@opentelemetry/api';
import { BehaviourEventSchema, type BehaviourEvent } from '@wxmesh/contracts';
import type { ConsumerConfig, Kafka } from 'kafkajs';
import type { Registry } from 'prom-client';
import type { EventsLogger } from '../logger.js';

/**
 * Every payload type this build of the schema knows (`wxmesh.behaviour.v1.UserLoggedIn`, ...): the
 * default registry of `createEventConsumer`. A record of any other type comes from a newer
 * producer and is skipped, not failed.
 */
export const KNOWN_EVENT_TYPES: ReadonlySet<string> = new Set(
  BehaviourEventSchema.fields.flatMap((field) =>
    field.oneof?.name === 'payload' && field.message !== undefined ? [field.message.typeName] : [],
  ),
);

/** One decoded, valid event handed to {@link EventConsumerOptions.apply}. */
export interface ConsumedEvent {
  readonly event: BehaviourEvent;
  /** The payload's type name, e.g. `wxmesh.behaviour.v1.UserLoggedIn`. */
  readonly type: string;
  readonly topic: string;
  readonly partition: number;
  /** The record's offset (kafkajs keeps offsets as decimal strings). */
  readonly offset: string;
  /** The event's CONSUMER span, child of the producer's span: run work under it to join the trace. */
  readonly context: Context;
}

/** Options of `createEventConsumer`. */
export interface EventConsumerOptions {
  kafka: Kafka;
  /** The consumer group; every process of one service shares it, a rebuild uses a fresh one. */
  groupId: string;
  /**
   * Applies events of one partition, in offset order. It MUST be idempotent: after a crash or a
   * rebalance the records after the last committed offset are delivered again, and during a
   * rebalance two consumers can briefly hold the same partition. Resolve only once the effects
   * are durable; throw to have the events retried (see {@link isTransient}).
   */
  apply(events: readonly ConsumedEvent[]): Promise<void>;
  /**
   * True for failures that say nothing about the event (the store is unreachable): those are
   * retried until they pass or the consumer stops, and never dead-lettered. Anything else is the
   * event's fault after {@link maxAttempts} attempts. Default: nothing is transient.
   */
  isTransient?(err: unknown): boolean;
  /** Attempts of one event before it goes to the dead-letter topic (default 5). */
  maxAttempts?: number;
  /** First pause between attempts, doubled each time up to 5 s (default 100 ms). */
  retryBackoffMs?: number;
  /** Events per `apply` call (default 500); also how often the position moves and heartbeats are sent. */
  chunkSize?: number;
  /** Partitions processed at the same time (default 6), so one's store round trip overlaps another's decoding. */
  partitionsConsumedConcurrently?: number;
  /** Read a new group's partitions from offset 0 (default true: a new read model needs all history). */
  fromBeginning?: boolean;
  /** Default `BEHAVIOUR_TOPIC`. */
  topic?: string;
  /** Default `BEHAVIOUR_DLQ_TOPIC`. */
  dlqTopic?: string;
  /** Types applied; other types are skipped with a metric. Default {@link KNOWN_EVENT_TYPES}. */
  knownTypes?: ReadonlySet<string>;
  /** kafkajs consumer settings (session timeout, heartbeat interval, fetch sizes); `groupId` is ours. */
  consumer?: Omit<ConsumerConfig, 'groupId'>;
  logger?: EventsLogger;
  /** Where the metrics go. Default: prom-client's global registry. */
  registry?: Registry;
  /** Injected for tests; default `Date.now`. */
  now?: () => number;
}

/** A running consumer; see `createEventConsumer`. */
export interface EventConsumer {
  readonly groupId: string;
  /** Connects, subscribes and starts consuming; resolves once the consumer runs (not when it joined). */
  start(): Promise<void>;
  /**
   * Stops fetching, lets each partition finish the chunk it is applying, commits what was applied
   * and leaves the group, so another member takes the partitions over at once. Call it in
   * graceful shutdown.
   */
  stop(): Promise<void>;
  /**
   * Per partition this consumer has processed, the next offset to process (all before it are
   * applied, skipped or dead-lettered). A rebuild compares it with the high watermarks.
   */
  positions(): ReadonlyMap<number, bigint>;
}
