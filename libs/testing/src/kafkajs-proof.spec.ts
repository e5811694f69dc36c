// The guarantees the project's event pipeline relies on, proven with kafkajs 2.2.4 against the real
// broker this harness runs: this test decides which Kafka version the harness may use.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { Kafka, logLevel, Partitioners, type Consumer, type KafkaMessage } from 'kafkajs';
import { startInfra, type Infra } from './infra.js';
import { waitFor } from './wait-for.js';

interface Received {
  partition: number;
  offset: string;
  key: string;
  value: string;
  traceparent: string;
}

const KEYS = Array.from({ length: 10 }, (_, i) => `o_user_${i}`);

function batch(label: string, count: number) {
  return Array.from({ length: count }, (_, i) => ({
    key: KEYS[i % KEYS.length]!,
    value: `${label}-${i}`,
    headers: { traceparent: `00-${label}-${i}` },
  }));
}

function record(partition: number, message: KafkaMessage): Received {
  return {
    partition,
    offset: message.offset,
    key: message.key!.toString(),
    value: message.value!.toString(),
    traceparent: message.headers!.traceparent!.toString(),
  };
}

let infra: Infra<{ kafka: true; redis: false }>;
let kafka: Kafka;

before(async () => {
  infra = await startInfra({ kafka: true, redis: false });
  kafka = new Kafka({
    clientId: 'kafkajs-proof',
    brokers: infra.kafkaBrokers.split(','),
    logLevel: logLevel.NOTHING,
  });
});

after(async () => {
  await infra?.stop();
});

test('idempotent keyed produce, group consumption with committed offsets, and exact resume by a new consumer', async () => {
  const topic = `wxmesh.testing.proof.${randomUUID()}`;
  const groupId = `proof-${randomUUID()}`;
  const admin = kafka.admin();
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  const consumers: Consumer[] = [];
  const newConsumer = () => {
    const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false, maxWaitTimeInMs: 100 });
    consumers.push(consumer);
    return consumer;
  };
  await admin.connect();
  try {
    assert.equal(
      await admin.createTopics({
        topics: [{ topic, numPartitions: 3, replicationFactor: 1 }],
        waitForLeaders: true,
      }),
      true,
    );
    await producer.connect();

    const first = batch('first', 60);
    const sent = await producer.send({ topic, acks: -1, messages: first });
    assert.deepEqual(
      new Set(sent.map((r) => r.partition)),
      new Set([0, 1, 2]),
      'the keys spread over all 3 partitions',
    );
    assert.ok(
      sent.every((r) => r.errorCode === 0),
      'every partition acknowledged the batch',
    );

    const c1 = newConsumer();
    const received1: Received[] = [];
    await c1.connect();
    await c1.subscribe({ topics: [topic], fromBeginning: true });
    await c1.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => void received1.push(record(partition, message)),
    });
    await waitFor(() => received1.length >= first.length, {
      timeoutMs: 30_000,
      message: 'the first consumer got the first batch',
    });

    assert.deepEqual(
      received1.map((r) => r.value).sort(),
      first.map((m) => m.value).sort(),
      'each message exactly once',
    );
    for (const r of received1)
      assert.equal(r.traceparent, `00-${r.value}`, 'headers travel with the message');
    for (const key of KEYS) {
      const forKey = received1.filter((r) => r.key === key);
      assert.equal(new Set(forKey.map((r) => r.partition)).size, 1, `${key} stays on one partition`);
      const order = forKey.map((r) => Number(r.value.split('-')[1]));
      assert.deepEqual(
        order,
        [...order].sort((a, b) => a - b),
        `${key} arrives in produce order`,
      );
    }

    const next = new Map<number, string>();
    for (const r of received1) {
      if (BigInt(r.offset) + 1n > BigInt(next.get(r.partition) ?? '0'))
        next.set(r.partition, String(BigInt(r.offset) + 1n));
    }
    await c1.commitOffsets([...next].map(([partition, offset]) => ({ topic, partition, offset })));
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const highWatermarks = await admin.fetchTopicOffsets(topic);
    assert.deepEqual(
      committed!.partitions.map((p) => [p.partition, p.offset]).sort(),
      highWatermarks.map((p) => [p.partition, p.high]).sort(),
      'the group committed every partition up to its end',
    );
    await c1.disconnect();

    const second = batch('second', 45);
    await producer.send({ topic, acks: -1, messages: second });

    const c2 = newConsumer();
    const received2: Received[] = [];
    await c2.connect();
    await c2.subscribe({ topics: [topic], fromBeginning: true });
    await c2.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => void received2.push(record(partition, message)),
    });
    // Within a partition the old messages precede the new ones, so once every new message is here,
    // any old message the group should not have seen again would be here too.
    await waitFor(() => received2.filter((r) => r.value.startsWith('second-')).length >= second.length, {
      timeoutMs: 30_000,
      message: 'the new consumer got the second batch',
    });
    assert.deepEqual(
      received2.map((r) => r.value).sort(),
      second.map((m) => m.value).sort(),
      'the new consumer resumed exactly after the committed offsets: all new messages, no old ones, no duplicates',
    );
  } finally {
    await Promise.all(consumers.map((c) => c.disconnect()));
    await producer.disconnect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  }
});
