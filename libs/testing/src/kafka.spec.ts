import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { test } from 'node:test';
import kafkajs, { Kafka, logLevel } from 'kafkajs';
import { installKafka, kafkaVersion, startKafka } from './kafka.js';
import { canListen } from './test-support.js';

test('startKafka runs a single-node KRaft broker that answers, and stop() frees its ports and data', async () => {
  const broker = await startKafka();
  try {
    assert.equal(broker.version, kafkaVersion());
    assert.equal(broker.brokers, `127.0.0.1:${broker.port}`);
    const admin = new Kafka({
      clientId: 'kafka-spec',
      brokers: [broker.brokers],
      logLevel: logLevel.NOTHING,
    }).admin();
    await admin.connect();
    try {
      const cluster = await admin.describeCluster();
      assert.deepEqual(cluster.brokers, [{ nodeId: 1, host: '127.0.0.1', port: broker.port }]);
      assert.equal(cluster.controller, 1, 'the broker is its own controller (combined mode)');
      const { resources } = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [
          {
            // ConfigResourceTypes is not among the names Node's ESM loader detects in kafkajs' CommonJS exports.
            type: kafkajs.ConfigResourceTypes.BROKER,
            name: '1',
            configNames: ['auto.create.topics.enable', 'offsets.topic.replication.factor', 'process.roles'],
          },
        ],
      });
      const configs = Object.fromEntries(
        resources[0]!.configEntries.map((e) => [e.configName, e.configValue]),
      );
      assert.deepEqual(configs, {
        'auto.create.topics.enable': 'false',
        'offsets.topic.replication.factor': '1',
        'process.roles': 'broker,controller',
      });
      await assert.rejects(
        admin.fetchTopicMetadata({ topics: ['not-created'] }),
        /does not host this topic-partition/,
      );
    } finally {
      await admin.disconnect();
    }
    assert.ok(existsSync(`${broker.dir}/data/meta.properties`), 'storage was formatted');
    assert.equal(await canListen(broker.port), false, 'the broker holds its port');
  } finally {
    await broker.stop();
  }
  assert.equal(await canListen(broker.port), true, 'stop() released the broker port');
  assert.equal(await canListen(broker.controllerPort), true, 'stop() released the controller port');
  assert.equal(existsSync(broker.dir), false, 'stop() removed the data');
  await broker.stop();
});

test('once cached, the Kafka jars are found without Maven or the network', async () => {
  await installKafka();
  const path = process.env.PATH;
  process.env.PATH = '/nonexistent';
  try {
    const { libDir, version } = await installKafka();
    const jars = readdirSync(libDir);
    assert.ok(jars.includes(`kafka_2.13-${version}.jar`), 'the broker jar is cached');
    assert.ok(
      jars.some((j) => /^log4j-slf4j2?-impl-.+\.jar$/.test(j)),
      'a logging binding is cached, so the broker log explains failures',
    );
  } finally {
    process.env.PATH = path;
  }
});
