// The topic Job's command (deploy/components/kafka-topics-job) for Kafka clusters without Strimzi:
// creates the behaviour topic and its dead-letter topic when missing, with the partitions and
// replication the Job sets, then exits. Never changes an existing topic. Exits non-zero on failure.
import { defineConfig, integer, kafkaEventsConfig, loadConfigOrExit, logLevel } from '@wxmesh/config';
import { createKafka, ensureBehaviourTopics } from '@wxmesh/events';
import { createLogger } from '@wxmesh/rpc';

const config = loadConfigOrExit(
  defineConfig({
    ...kafkaEventsConfig,
    LOG_LEVEL: logLevel().default('info'),
    /** Partitions of each topic it creates. */
    EVENTS_TOPIC_PARTITIONS: integer({ min: 1 }).default(6),
    /** Replicas of each partition it creates (3 in a production cluster, 1 on a single dev broker). */
    EVENTS_TOPIC_REPLICATION_FACTOR: integer({ min: 1 }).default(3),
  }),
);
const logger = createLogger({ name: 'ensure-topics', level: config.LOG_LEVEL });
const kafka = createKafka({ clientId: 'wxmesh-ensure-topics', config, logger });
try {
  const topics = await ensureBehaviourTopics(kafka, {
    partitions: config.EVENTS_TOPIC_PARTITIONS,
    replicationFactor: config.EVENTS_TOPIC_REPLICATION_FACTOR,
    logger,
  });
  logger.info({ topics }, 'behaviour topics ensured');
} catch (err) {
  logger.error({ err }, 'ensuring the behaviour topics failed');
  process.exitCode = 1;
}
