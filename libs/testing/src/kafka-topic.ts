import kafkajs from 'kafkajs';
import { waitFor } from './wait-for.js';

/**
 * Waits until `topic` exists and every partition has a leader. A consumer that subscribes to a
 * topic created a moment ago (by a service starting up, say) can otherwise be assigned a
 * partition that has no leader yet and not read it until its next metadata refresh, minutes later.
 */
export async function waitForTopic(brokers: string, topic: string, timeoutMs = 30_000): Promise<void> {
  const kafka = new kafkajs.Kafka({
    clientId: 'wxmesh-testing-topic-check',
    brokers: brokers.split(','),
    logLevel: kafkajs.logLevel.NOTHING,
  });
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
