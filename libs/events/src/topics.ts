import { retry } from '@wxmesh/resilience';
import kafkajs, { type Admin, type Kafka } from 'kafkajs';
import { SILENT_LOGGER, type EventsLogger } from './logger.js';

/** The behaviour topic: key = openid, value = a protobuf `BehaviourEvent` (see ARCHITECTURE.md). */
export const BEHAVIOUR_TOPIC = 'wxmesh.behaviour.v1';
/** Where consumers park behaviour records they cannot apply. */
export const BEHAVIOUR_DLQ_TOPIC = 'wxmesh.behaviour.v1.dlq';

// A topic another process created a moment ago may have no leader yet ("This server does not host
// this topic-partition", retriable): creating again is a no-op and metadata is a read, so both are
// retried briefly. This is what lets several replicas start at once.
const RETRIABLE_METADATA = {
  retries: 10,
  baseMs: 100,
  maxMs: 1_000,
  idempotent: true,
  isRetryable: (err: unknown) => (err as { retriable?: boolean }).retriable === true,
};

/** Options of {@link ensureBehaviourTopics}. */
export interface EnsureTopicsOptions {
  /** Partitions of each topic when it is created (default 6). Never changed on an existing topic. */
  partitions?: number;
  /** Replicas of each partition when it is created (default 1; 3 in a production cluster). */
  replicationFactor?: number;
  logger?: EventsLogger;
  /** Behaviour topic name; only tests that need an isolated topic change it. */
  topic?: string;
  /** Dead-letter topic name; only tests that need an isolated topic change it. */
  dlqTopic?: string;
}

/** One topic as {@link ensureBehaviourTopics} found or made it. */
export interface EnsuredTopic {
  topic: string;
  /** Its partition count as it is now, which is less than asked when it pre-existed with fewer. */
  partitions: number;
  /** True when this call created it; false when it existed (or another process created it first). */
  created: boolean;
}

/** What {@link ensureBehaviourTopics} resolves with. */
export interface EnsuredBehaviourTopics {
  behaviour: EnsuredTopic;
  dlq: EnsuredTopic;
}

// Events are replayed from offset 0 to rebuild read models, so neither time nor size may ever
// delete a segment; dead letters are kept as long, so nothing is lost before someone looks.
const UNLIMITED_RETENTION = [
  { name: 'retention.ms', value: '-1' },
  { name: 'retention.bytes', value: '-1' },
] as const;

/**
 * Creates the behaviour topic and its dead-letter topic when they are missing, with explicit
 * partitions and unlimited retention (`retention.ms=-1`, `retention.bytes=-1`): the topic is the
 * event log read models are rebuilt from, so it must never lose its beginning. Run it at deploy
 * or at a producer's start-up: producers never auto-create topics.
 *
 * Safe to run again and from several processes at once: an existing topic is left exactly as it
 * is, and losing a creation race (`TOPIC_ALREADY_EXISTS`) counts as success. An existing topic
 * with fewer partitions than asked, or with limited retention, is reported through `logger.warn`
 * and not altered: adding partitions would move keys to other partitions and break per-user
 * order, and retention is an operator's decision once the topic exists. `min.insync.replicas` is
 * 2 when `replicationFactor` is at least 3 (so acks=all survives one broker loss), else 1.
 *
 * Rejects with the broker's error for anything else (unreachable cluster, replication factor
 * larger than the cluster, invalid topic name).
 */
export async function ensureBehaviourTopics(
  kafka: Kafka,
  options: EnsureTopicsOptions = {},
): Promise<EnsuredBehaviourTopics> {
  const partitions = options.partitions ?? 6;
  const replicationFactor = options.replicationFactor ?? 1;
  const logger = options.logger ?? SILENT_LOGGER;
  const names = [options.topic ?? BEHAVIOUR_TOPIC, options.dlqTopic ?? BEHAVIOUR_DLQ_TOPIC] as const;
  if (!Number.isSafeInteger(partitions) || partitions < 1) {
    throw new Error(`ensureBehaviourTopics: partitions must be a positive integer, got ${partitions}`);
  }
  if (!Number.isSafeInteger(replicationFactor) || replicationFactor < 1) {
    throw new Error(
      `ensureBehaviourTopics: replicationFactor must be a positive integer, got ${replicationFactor}`,
    );
  }
  if (names[0] === names[1]) throw new Error('ensureBehaviourTopics: topic and dlqTopic must differ');

  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const configEntries = [
      ...UNLIMITED_RETENTION,
      { name: 'min.insync.replicas', value: replicationFactor >= 3 ? '2' : '1' },
    ];
    // One request per topic, so each knows whether it was this call that created it.
    const created = await Promise.all(
      names.map((topic) =>
        existing.has(topic)
          ? false
          : retry(
              // A retry after a retriable failure finds the topic that attempt created: still ours.
              (attempt) =>
                admin
                  .createTopics({
                    topics: [{ topic, numPartitions: partitions, replicationFactor, configEntries }],
                    waitForLeaders: true,
                  })
                  .then((created) => created || attempt > 1),
              RETRIABLE_METADATA,
            ).catch((err: unknown) => {
              throw creationError(topic, err);
            }),
      ),
    );
    const metadata = await retry(() => admin.fetchTopicMetadata({ topics: [...names] }), RETRIABLE_METADATA);
    const [behaviour, dlq] = names.map((topic, i): EnsuredTopic => {
      const found = metadata.topics.find((t) => t.name === topic);
      if (found === undefined)
        throw new Error(`ensureBehaviourTopics: ${topic} has no metadata after creation`);
      return { topic, partitions: found.partitions.length, created: created[i]! };
    }) as [EnsuredTopic, EnsuredTopic];

    for (const t of [behaviour, dlq]) {
      if (t.created) {
        logger.info({ topic: t.topic, partitions: t.partitions, replicationFactor }, 'created Kafka topic');
      } else if (t.partitions < partitions) {
        logger.warn(
          { topic: t.topic, partitions: t.partitions, asked: partitions },
          'Kafka topic exists with fewer partitions than asked; left unchanged (adding partitions would break per-user order)',
        );
      }
    }
    await warnOnLimitedRetention(
      admin,
      [behaviour, dlq].filter((t) => !t.created).map((t) => t.topic),
      logger,
    );
    return { behaviour, dlq };
  } finally {
    await admin.disconnect();
  }
}

async function warnOnLimitedRetention(admin: Admin, topics: string[], logger: EventsLogger): Promise<void> {
  if (topics.length === 0) return;
  // A topic another replica created a moment ago can be unknown to this broker for a moment
  // (UNKNOWN_TOPIC_OR_PARTITION, retriable): it was seen on a loaded machine.
  const described = await retry(
    () =>
      admin.describeConfigs({
        includeSynonyms: false,
        resources: topics.map((name) => ({
          type: kafkajs.ConfigResourceTypes.TOPIC,
          name,
          configNames: UNLIMITED_RETENTION.map((entry) => entry.name),
        })),
      }),
    RETRIABLE_METADATA,
  );
  for (const resource of described.resources) {
    const limited = resource.configEntries.filter((entry) => entry.configValue !== '-1');
    if (limited.length > 0) {
      logger.warn(
        {
          topic: resource.resourceName,
          retention: Object.fromEntries(limited.map((entry) => [entry.configName, entry.configValue])),
        },
        'Kafka topic exists with limited retention; events older than that cannot be replayed',
      );
    }
  }
}

/** kafkajs reports per-topic failures as "Topic creation errors" with the reasons nested; surface them. */
function creationError(topic: string, err: unknown): Error {
  const nested = (err as { errors?: unknown }).errors;
  const reasons = Array.isArray(nested)
    ? nested.map((e) => (e instanceof Error ? e.message : String(e)))
    : [err instanceof Error ? err.message : String(err)];
  return new Error(`ensureBehaviourTopics: creating ${topic} failed: ${reasons.join('; ')}`, { cause: err });
}
