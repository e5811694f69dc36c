import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createKafka } from './kafka-client.js';
import { KafkaSecurityConfigError } from './kafka-security.js';

test('kafkajs log lines go through the service logger, retried errors as warnings', async () => {
  const lines: Array<{ level: string; fields: Record<string, unknown>; message: string }> = [];
  const logger = {
    info: (fields: object, message: string) =>
      lines.push({ level: 'info', fields: fields as never, message }),
    warn: (fields: object, message: string) =>
      lines.push({ level: 'warn', fields: fields as never, message }),
  };
  // Nothing listens on port 1: every connection attempt fails and kafkajs logs it.
  const kafka = createKafka({ clientId: 'log-test', brokers: ['127.0.0.1:1'], logger });
  const admin = kafka.admin({ retry: { retries: 1, initialRetryTime: 10, maxRetryTime: 20 } });
  await assert.rejects(admin.connect());
  assert.ok(lines.length > 0, 'kafkajs logged through the logger');
  const failure = lines.find((l) => /ECONNREFUSED|Connection error/.test(l.message));
  assert.ok(failure, 'the connection failure is reported');
  assert.equal(failure.level, 'warn');
  assert.equal(typeof failure.fields.kafka, 'string', 'the kafkajs namespace is kept');
  assert.equal(
    failure.fields.timestamp,
    undefined,
    'kafkajs’s own timestamp is dropped (the logger stamps time)',
  );
});

test('a service config picks the brokers and the security; a bad setting throws before anything connects', async () => {
  const logger = { info: () => {}, warn: () => {} };
  assert.throws(
    () =>
      createKafka({
        clientId: 'config-test',
        config: { KAFKA_BROKERS: ['127.0.0.1:1'], KAFKA_SECURITY: 'sasl_ssl' },
        logger,
      }),
    (err: unknown) => err instanceof KafkaSecurityConfigError && err.variable === 'KAFKA_SASL_MECHANISM',
  );
  const kafka = createKafka({ clientId: 'config-test', config: { KAFKA_BROKERS: ['127.0.0.1:1'] }, logger });
  const admin = kafka.admin({ retry: { retries: 0 } });
  await assert.rejects(admin.connect(), /127\.0\.0\.1:1\b/, 'it dials the broker the config names');
});
