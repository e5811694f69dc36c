import kafkajs, { type IHeaders, type Kafka, type KafkaMessage, type Producer } from 'kafkajs';
import type { EventsLogger } from '../logger.js';
import type { ConsumerMetrics, DeadLetterReason } from './metrics.js';
import { withRetries, type BatchControl, type RetryPolicy } from './retries.js';

/** Headers a dead letter carries besides the original record's own. */
export const DLQ_HEADERS = {
  error: 'dlq-error',
  reason: 'dlq-reason',
  attempts: 'dlq-attempts',
  group: 'dlq-consumer-group',
  topic: 'dlq-source-topic',
  partition: 'dlq-source-partition',
  offset: 'dlq-source-offset',
  failedAt: 'dlq-failed-at',
} as const;

/** Where a record failed and why: what its dead letter says about it. */
export interface DeadLetterCause {
  readonly partition: number;
  readonly reason: DeadLetterReason;
  readonly error: unknown;
  readonly attempts: number;
}

/** What {@link DeadLetterSender} needs from its consumer. */
export interface DeadLetterSenderDeps {
  readonly kafka: Kafka;
  readonly groupId: string;
  readonly topic: string;
  readonly dlqTopic: string;
  readonly metrics: ConsumerMetrics;
  readonly logger: EventsLogger;
  readonly retryPolicy: RetryPolicy;
}

/**
 * Writes records a consumer cannot apply to the dead-letter topic: the original key, value and
 * headers plus {@link DLQ_HEADERS}, through its own idempotent acks=all producer. A failing send
 * is retried without limit (the partition waits), until the batch is abandoned.
 */
export class DeadLetterSender {
  readonly #producer: Producer;

  constructor(private readonly deps: DeadLetterSenderDeps) {
    this.#producer = deps.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: kafkajs.Partitioners.DefaultPartitioner,
    });
  }

  connect(): Promise<void> {
    return this.#producer.connect();
  }

  disconnect(): Promise<void> {
    return this.#producer.disconnect();
  }

  /** Sends `message`'s dead letter; resolves once Kafka acknowledged it. */
  async send(message: KafkaMessage, cause: DeadLetterCause, control: BatchControl): Promise<void> {
    const { groupId, topic, dlqTopic, metrics, logger, retryPolicy } = this.deps;
    const headers = deadLetterHeaders(message, cause, {
      groupId,
      topic,
      failedAt: new Date(retryPolicy.now()),
    });
    const sent = await withRetries(
      () =>
        this.#producer.send({
          topic: dlqTopic,
          acks: -1,
          messages: [{ key: message.key, value: message.value, headers }],
        }),
      control,
      Number.POSITIVE_INFINITY,
      retryPolicy,
    );
    if (!sent.ok) throw sent.error;
    metrics.deadLettered(cause.reason);
    const { partition, reason, attempts } = cause;
    logger.warn(
      {
        groupId,
        topic,
        partition,
        offset: message.offset,
        reason,
        attempts,
        error: describeError(cause.error),
      },
      'behaviour record dead-lettered',
    );
  }
}

/** The dead letter's headers: the record's own plus the `dlq-*` ones. */
export function deadLetterHeaders(
  message: KafkaMessage,
  cause: DeadLetterCause,
  source: { groupId: string; topic: string; failedAt: Date },
): IHeaders {
  return {
    ...message.headers,
    [DLQ_HEADERS.error]: describeError(cause.error),
    [DLQ_HEADERS.reason]: cause.reason,
    [DLQ_HEADERS.attempts]: String(cause.attempts),
    [DLQ_HEADERS.group]: source.groupId,
    [DLQ_HEADERS.topic]: source.topic,
    [DLQ_HEADERS.partition]: String(cause.partition),
    [DLQ_HEADERS.offset]: message.offset,
    [DLQ_HEADERS.failedAt]: source.failedAt.toISOString(),
  };
}

/** An error as one line of at most 1000 characters, for a header or a log field. */
export function describeError(err: unknown): string {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return text.length > 1000 ? `${text.slice(0, 1000)}…` : text;
}
