import type { ConsumerConfig, Kafka } from 'kafkajs';
import type { Registry } from 'prom-client';
import { SILENT_LOGGER, type EventsLogger } from '../logger.js';
import { BEHAVIOUR_DLQ_TOPIC, BEHAVIOUR_TOPIC } from '../topics.js';
import { KNOWN_EVENT_TYPES, type ConsumedEvent, type EventConsumerOptions } from './options.js';

/** {@link EventConsumerOptions} with every default filled in and every number checked. */
export interface ConsumerSettings {
  readonly kafka: Kafka;
  readonly groupId: string;
  readonly topic: string;
  readonly dlqTopic: string;
  readonly knownTypes: ReadonlySet<string>;
  readonly maxAttempts: number;
  readonly retryBackoffMs: number;
  readonly chunkSize: number;
  readonly partitionsConsumedConcurrently: number;
  readonly fromBeginning: boolean;
  readonly consumer: Omit<ConsumerConfig, 'groupId'> | undefined;
  readonly registry: Registry | undefined;
  readonly logger: EventsLogger;
  readonly now: () => number;
  readonly apply: (events: readonly ConsumedEvent[]) => Promise<void>;
  readonly isTransient: (err: unknown) => boolean;
}

/** Resolves the consumer's options; throws for a `maxAttempts` or `chunkSize` that is not a positive integer. */
export function consumerSettings(options: EventConsumerOptions): ConsumerSettings {
  const maxAttempts = options.maxAttempts ?? 5;
  const chunkSize = options.chunkSize ?? 500;
  if (!Number.isSafeInteger(maxAttempts) || maxAttempts < 1)
    throw new Error(`createEventConsumer: maxAttempts must be a positive integer, got ${maxAttempts}`);
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 1)
    throw new Error(`createEventConsumer: chunkSize must be a positive integer, got ${chunkSize}`);
  return {
    kafka: options.kafka,
    groupId: options.groupId,
    topic: options.topic ?? BEHAVIOUR_TOPIC,
    dlqTopic: options.dlqTopic ?? BEHAVIOUR_DLQ_TOPIC,
    knownTypes: options.knownTypes ?? KNOWN_EVENT_TYPES,
    maxAttempts,
    retryBackoffMs: options.retryBackoffMs ?? 100,
    chunkSize,
    partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? 6,
    fromBeginning: options.fromBeginning ?? true,
    consumer: options.consumer,
    registry: options.registry,
    logger: options.logger ?? SILENT_LOGGER,
    now: options.now ?? Date.now,
    apply: (events) => options.apply(events),
    isTransient: options.isTransient ?? (() => false),
  };
}
