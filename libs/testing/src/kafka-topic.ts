import { randomUUID } from 'node:crypto';
import kafkajs from 'kafkajs';
import { scaledTimeout } from './timeout-scale.js';
import { waitFor } from './wait-for.js';

/**
 * A kafkajs client on the test broker (`brokers` as the harness gives them, comma-separated), its
 * own logging off: tests assert on outcomes, and kafkajs' retry chatter would bury a failure.
 */
export function testKafka(brokers: string, clientId: string): kafkajs.Kafka {
  return new kafkajs.Kafka({ clientId, brokers: brokers.split(','), logLevel: kafkajs.logLevel.NOTHING });
}

/**
 * Waits until `topic` exists and every partition has a leader. A consumer that subscribes to a
 * topic created a moment ago (by a service starting up, say) can otherwise be assigned a
 * partition that has no leader yet and not read it until its next metadata refresh, minutes later.
 * The default limit is 30 s scaled by the machine's load ({@link scaledTimeout}).
 */
export async function waitForTopic(
  brokers: string,
  topic: string,
  timeoutMs = scaledTimeout(30_000),
): Promise<void> {
  const kafka = testKafka(brokers, 'wxmesh-testing-topic-check');
  const admin = kafka.admin();
  await admin.connect();
  try {
    await waitFor(
      async () => {
        if (!(await admin.listTopics()).includes(topic)) return false;
        const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
        const partitions = topics[0]?.partitions ?? [];
        return partitions.length > 0 && partitions.every((p) => p.leader >= 0);
      },
      { timeoutMs, message: `${topic} exists with a leader for every partition` },
    );
  } finally {
    await admin.disconnect();
  }
}

/** What {@link collectTopic} has read so far, and how to stop it. */
export interface TopicCollector<T> {
  /** Every record kept so far, in arrival order (per partition). */
  readonly records: T[];
  stop(): Promise<void>;
}

/**
 * Reads `topic` from the beginning with a fresh consumer group (after {@link waitForTopic}) and
 * keeps what `keep` returns for each record whose key starts with `keyPrefix`, so a test sees
 * only its own users' records on a broker other suites share. `keep` decodes; returning
 * undefined drops the record.
 */
export async function collectTopic<T>(
  brokers: string,
  topic: string,
  options: { keyPrefix: string; keep: (value: Buffer) => T | undefined },
): Promise<TopicCollector<T>> {
  await waitForTopic(brokers, topic);
  const kafka = testKafka(brokers, 'wxmesh-testing-collector');
  const consumer = kafka.consumer({ groupId: `collector-${randomUUID()}` });
  const records: T[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      if (!message.key?.toString().startsWith(options.keyPrefix) || message.value === null) return;
      const kept = options.keep(message.value);
      if (kept !== undefined) records.push(kept);
    },
  });
  return { records, stop: () => consumer.disconnect() };
}
