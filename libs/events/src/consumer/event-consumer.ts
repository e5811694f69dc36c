import { register as globalRegister } from 'prom-client';
import type { Consumer, EachBatchPayload } from 'kafkajs';
import { processBatch, type BatchDeps } from './batch.js';
import { DeadLetterSender } from './dead-letters.js';
import { PartitionLanes } from './lanes.js';
import { consumerMetrics } from './metrics.js';
import type { EventConsumer } from './options.js';
import { PartitionPositions } from './positions.js';
import type { RetryPolicy } from './retries.js';
import type { ConsumerSettings } from './settings.js';

/**
 * The lifecycle of one behaviour-topic consumer: its kafkajs consumer and dead-letter producer,
 * the partitions' positions and lanes, and whether it runs or stops. Batches are handed to
 * {@link processBatch} on their partition's lane; a rebalance starts a new epoch on every lane
 * and forgets the partitions this member lost.
 */
export class BehaviourEventConsumer implements EventConsumer {
  readonly groupId: string;
  readonly #settings: ConsumerSettings;
  readonly #consumer: Consumer;
  readonly #deadLetters: DeadLetterSender;
  readonly #positions: PartitionPositions;
  readonly #lanes = new PartitionLanes();
  readonly #batchDeps: BatchDeps;
  #running = false;
  #stopping = false;

  constructor(settings: ConsumerSettings) {
    const { groupId, topic, dlqTopic, logger, kafka } = settings;
    this.groupId = groupId;
    this.#settings = settings;
    const metrics = consumerMetrics(settings.registry ?? globalRegister, groupId);
    // kafkajs' disconnect waits for the fetch in flight, which on an idle topic long-polls for
    // maxWaitTimeInMs (5 s by default, as long as a shutdown step may take): 1 s bounds the stop
    // and costs an idle consumer one fetch a second; a busy one gets its records as they come.
    this.#consumer = kafka.consumer({
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: 1_000,
      ...settings.consumer,
      groupId,
    });
    const retryPolicy = retryPolicyOf(settings, (err, transient) => {
      metrics.retried();
      if (transient) logger.warn({ err, groupId, topic }, 'transient failure; retrying');
    });
    const deadLetters = new DeadLetterSender({
      kafka,
      groupId,
      topic,
      dlqTopic,
      metrics,
      logger,
      retryPolicy,
    });
    this.#deadLetters = deadLetters;
    this.#positions = new PartitionPositions({ groupId, topic }, metrics, logger);
    this.#batchDeps = {
      chunks: {
        site: { topic, groupId },
        knownTypes: settings.knownTypes,
        maxAttempts: settings.maxAttempts,
        apply: settings.apply,
        metrics,
        deadLetters,
        retryPolicy,
      },
      chunkSize: settings.chunkSize,
      positions: this.#positions,
      logger,
      stopping: () => this.#stopping,
      seek: (partition, offset) => this.#consumer.seek({ topic, partition, offset }),
    };
    this.#consumer.on(this.#consumer.events.GROUP_JOIN, ({ payload }) =>
      this.#joined(payload.memberAssignment[topic] ?? []),
    );
  }

  /** Connects, subscribes and starts consuming; resolves once the consumer runs (not when it joined). */
  async start(): Promise<void> {
    if (this.#running) throw new Error('createEventConsumer: already started');
    const { topic, dlqTopic, groupId, logger } = this.#settings;
    await this.#deadLetters.connect();
    await this.#consumer.connect();
    await this.#consumer.subscribe({ topic, fromBeginning: this.#settings.fromBeginning });
    this.#stopping = false;
    await this.#consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.#settings.partitionsConsumedConcurrently,
      eachBatch: (payload) => this.#eachBatch(payload),
    });
    this.#running = true;
    logger.info({ groupId, topic, dlqTopic }, 'event consumer started');
  }

  /**
   * Lanes stop after the chunk they are applying and commit what they applied, while this member
   * still holds its partitions; then it leaves the group.
   */
  async stop(): Promise<void> {
    this.#running = false;
    this.#stopping = true;
    if (this.#lanes.size > 0) {
      try {
        this.#consumer.pause([{ topic: this.#settings.topic }]);
      } catch {
        // not running: nothing is fetched anyway
      }
      await this.#lanes.drain();
    }
    await this.#consumer.disconnect();
    await this.#deadLetters.disconnect();
  }

  positions(): ReadonlyMap<number, bigint> {
    return this.#positions.view();
  }

  /**
   * kafkajs fetches every assigned partition from its committed offset again after a rebalance:
   * batches queued before it are dropped (a lane finishes the chunk it is applying).
   */
  #joined(partitions: readonly number[]): void {
    const { groupId, topic, logger } = this.#settings;
    this.#lanes.newEpoch();
    this.#positions.keepOnly(new Set(partitions));
    logger.info(
      { groupId, topic, partitions: [...partitions].sort((a, b) => a - b) },
      'consumer joined group',
    );
  }

  /**
   * Queues the batch on its partition's lane and resolves its offsets at once (that only moves the
   * fetch position; autoCommit is off and the lane commits what it applied), then returns when the
   * lane's previous batch is done.
   */
  async #eachBatch(payload: EachBatchPayload): Promise<void> {
    const { partition, messages } = payload.batch;
    if (this.#stopping || messages.length === 0) return;
    const previous = this.#lanes.enqueue(partition, (lane, epoch) =>
      processBatch(this.#batchDeps, payload, lane, epoch),
    );
    payload.resolveOffset(messages[messages.length - 1]!.offset);
    await previous;
  }
}

function retryPolicyOf(settings: ConsumerSettings, onRetry: RetryPolicy['onRetry']): RetryPolicy {
  return {
    backoffMs: settings.retryBackoffMs,
    isTransient: settings.isTransient,
    now: settings.now,
    onRetry,
  };
}
