import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { retry } from '@wxmesh/resilience';
import { startInfra, type Infra } from '@wxmesh/testing';
import kafkajs, { type Admin, type Kafka } from 'kafkajs';
import type { EventsLogger } from './logger.js';
import { BEHAVIOUR_DLQ_TOPIC, BEHAVIOUR_TOPIC, ensureBehaviourTopics } from './topics.js';

let infra: Infra<{ kafka: true; redis: false }>;
let kafka: Kafka;
let admin: Admin;
/** Topics the tests may have created, deleted at the end (matters when KAFKA_BROKERS is shared). */
const made: string[] = [];

before(async () => {
  infra = await startInfra({ kafka: true, redis: false });
  kafka = new kafkajs.Kafka({
    clientId: 'events-topics-spec',
    brokers: infra.kafkaBrokers.split(','),
    logLevel: kafkajs.logLevel.NOTHING,
  });
  admin = kafka.admin();
  await admin.connect();
});

after(async () => {
  if (admin !== undefined) {
    const existing = new Set(await admin.listTopics().catch(() => []));
    const topics = made.filter((t) => existing.has(t));
    if (topics.length > 0) await admin.deleteTopics({ topics }).catch(() => undefined);
    await admin.disconnect();
  }
  await infra?.stop();
});

/** Fresh behaviour/DLQ names, deleted after the file. */
function names() {
  const topic = `wxmesh.behaviour.v1.spec-${randomUUID()}`;
  const dlqTopic = `${topic}.dlq`;
  made.push(topic, dlqTopic);
  return { topic, dlqTopic };
}

/**
 * The test's own reads of a topic just created: the broker may not know it for a moment on a busy
 * machine (UNKNOWN_TOPIC_OR_PARTITION, retriable), so they retry as the code under test does.
 */
function read<T>(fn: () => Promise<T>): Promise<T> {
  return retry(fn, {
    retries: 10,
    baseMs: 100,
    maxMs: 1_000,
    idempotent: true,
    isRetryable: (err) => (err as { retriable?: boolean }).retriable === true,
  });
}

async function partitionsOf(topic: string): Promise<number> {
  const { topics } = await read(() => admin.fetchTopicMetadata({ topics: [topic] }));
  return topics[0]!.partitions.length;
}

async function configOf(topic: string): Promise<Record<string, string>> {
  const { resources } = await read(() =>
    admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: topic }],
    }),
  );
  return Object.fromEntries(resources[0]!.configEntries.map((e) => [e.configName, e.configValue]));
}

function recordingLogger() {
  const warnings: { fields: object; message: string }[] = [];
  const logger: EventsLogger = {
    info: () => {},
    warn: (fields, message) => warnings.push({ fields, message }),
  };
  return { logger, warnings };
}

describe('ensureBehaviourTopics', () => {
  it('names the contract topics by default', () => {
    assert.equal(BEHAVIOUR_TOPIC, 'wxmesh.behaviour.v1');
    assert.equal(BEHAVIOUR_DLQ_TOPIC, 'wxmesh.behaviour.v1.dlq');
  });

  it('creates both topics with the partitions asked and unlimited retention, then is a no-op', async () => {
    const { topic, dlqTopic } = names();
    const first = await ensureBehaviourTopics(kafka, { topic, dlqTopic, partitions: 3 });
    assert.deepEqual(first, {
      behaviour: { topic, partitions: 3, created: true },
      dlq: { topic: dlqTopic, partitions: 3, created: true },
    });
    for (const name of [topic, dlqTopic]) {
      assert.equal(await partitionsOf(name), 3, `${name} partitions`);
      const config = await configOf(name);
      assert.equal(config['retention.ms'], '-1', `${name} retention.ms`);
      assert.equal(config['retention.bytes'], '-1', `${name} retention.bytes`);
      assert.equal(config['cleanup.policy'], 'delete', `${name} is a log, not compacted`);
    }

    const { logger, warnings } = recordingLogger();
    const second = await ensureBehaviourTopics(kafka, { topic, dlqTopic, partitions: 3, logger });
    assert.deepEqual(second, {
      behaviour: { topic, partitions: 3, created: false },
      dlq: { topic: dlqTopic, partitions: 3, created: false },
    });
    assert.deepEqual(warnings, [], 'a topic as asked draws no warning');
  });

  it('lets concurrent callers race: both succeed and each topic is created exactly once', async () => {
    const { topic, dlqTopic } = names();
    const results = await Promise.all([
      ensureBehaviourTopics(kafka, { topic, dlqTopic, partitions: 2 }),
      ensureBehaviourTopics(kafka, { topic, dlqTopic, partitions: 2 }),
    ]);
    for (const key of ['behaviour', 'dlq'] as const) {
      assert.equal(results.filter((r) => r[key].created).length, 1, `${key} created by exactly one caller`);
      for (const r of results) assert.equal(r[key].partitions, 2);
    }
    assert.equal(await partitionsOf(topic), 2);
    assert.equal((await configOf(dlqTopic))['retention.ms'], '-1');
  });

  it('leaves an existing topic with fewer partitions and limited retention as it is, and warns', async () => {
    const { topic, dlqTopic } = names();
    await admin.createTopics({
      topics: [
        {
          topic,
          numPartitions: 2,
          replicationFactor: 1,
          configEntries: [{ name: 'retention.ms', value: '86400000' }],
        },
      ],
      waitForLeaders: true,
    });
    const { logger, warnings } = recordingLogger();
    const result = await ensureBehaviourTopics(kafka, { topic, dlqTopic, partitions: 4, logger });
    assert.deepEqual(result.behaviour, { topic, partitions: 2, created: false });
    assert.deepEqual(
      result.dlq,
      { topic: dlqTopic, partitions: 4, created: true },
      'the missing DLQ is still made',
    );
    assert.equal(await partitionsOf(topic), 2, 'partitions unchanged');
    assert.equal((await configOf(topic))['retention.ms'], '86400000', 'retention unchanged');
    assert.deepEqual(
      warnings.map((w) => w.message.split(';')[0]),
      ['Kafka topic exists with fewer partitions than asked', 'Kafka topic exists with limited retention'],
    );
    assert.deepEqual(warnings[1]!.fields, { topic, retention: { 'retention.ms': '86400000' } });
  });

  it('rejects nonsense options before touching the cluster', async () => {
    await assert.rejects(ensureBehaviourTopics(kafka, { partitions: 0 }), /partitions/);
    await assert.rejects(ensureBehaviourTopics(kafka, { replicationFactor: 1.5 }), /replicationFactor/);
    await assert.rejects(ensureBehaviourTopics(kafka, { topic: 'a', dlqTopic: 'a' }), /differ/);
  });

  it('rejects with the broker error when the cluster cannot satisfy it', async () => {
    const { topic, dlqTopic } = names();
    await assert.rejects(
      ensureBehaviourTopics(kafka, { topic, dlqTopic, replicationFactor: 3 }),
      /creating wxmesh\.behaviour\.v1\.spec-.* failed: .*[Rr]eplication.factor/,
    );
  });
});
