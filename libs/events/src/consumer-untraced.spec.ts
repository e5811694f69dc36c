// The consumer in a process without a tracer provider (tracing off, the default without an OTLP
// endpoint): spans are not opened per event, yet an event's `context` still carries the
// producer's trace and the WeChat identity. Its own file: the tracer provider is process-global.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { context, trace, TraceFlags } from '@opentelemetry/api';
import { initTelemetry, wechatFromBaggage, type Telemetry } from '@wxmesh/telemetry';
import { startInfra, waitFor, type Infra } from '@wxmesh/testing';
import kafkajs, { type Kafka } from 'kafkajs';
import { Registry } from 'prom-client';
import { createEventConsumer, type ConsumedEvent } from './consumer.js';
import { behaviourEvent } from './envelope.js';
import { createEventProducer } from './producer.js';
import { ensureBehaviourTopics } from './topics.js';

let telemetry: Telemetry;
let infra: Infra<{ kafka: true; redis: false }>;
let kafka: Kafka;
const topic = `wxmesh.behaviour.v1.consumer-untraced-spec-${randomUUID()}`;

before(async () => {
  telemetry = await initTelemetry({ serviceName: 'events-consumer-untraced-spec' });
  infra = await startInfra({ kafka: true, redis: false });
  kafka = new kafkajs.Kafka({
    clientId: 'events-consumer-untraced-spec',
    brokers: infra.kafkaBrokers.split(','),
    logLevel: kafkajs.logLevel.NOTHING,
  });
  await ensureBehaviourTopics(kafka, { topic, dlqTopic: `${topic}.dlq`, partitions: 1 });
});

after(async () => {
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [topic, `${topic}.dlq`] }).catch(() => undefined);
  await admin.disconnect();
  await infra?.stop();
  await telemetry?.shutdown();
});

describe('createEventConsumer without a tracer provider', () => {
  it("hands each event a context holding the producer's trace and the WeChat identity", async () => {
    assert.equal(telemetry.enabled, false);
    const producer = createEventProducer({ kafka, producer: 'session', topic, registry: new Registry() });
    await producer.connect();
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const remote = trace.wrapSpanContext({
      traceId,
      spanId: 'b7ad6b7169203331',
      traceFlags: TraceFlags.SAMPLED,
    });
    const events = [1, 2, 3].map((n) =>
      behaviourEvent({
        eventId: `ev-${n}`,
        aggregateId: 'user:o_untraced',
        occurredAt: Date.UTC(2025, 0, 1) + n,
        producer: 'session',
        wechat: { openid: 'o_untraced', appid: 'wx0123456789abcdef' },
        payload: { case: 'userLoggedIn', value: { sessionId: `s${n}` } },
      }),
    );
    await context.with(trace.setSpan(context.active(), remote), () => producer.emit(...events));
    await producer.disconnect();

    const seen: ConsumedEvent[] = [];
    const consumer = createEventConsumer({
      kafka,
      groupId: `untraced-${randomUUID()}`,
      topic,
      dlqTopic: `${topic}.dlq`,
      registry: new Registry(),
      apply: async (batch) => void seen.push(...batch),
    });
    await consumer.start();
    try {
      await waitFor(() => seen.length >= 3, { timeoutMs: 60_000, message: 'three events applied' });
    } finally {
      await consumer.stop();
    }
    assert.deepEqual(
      seen.map((e) => [e.event.eventId, e.offset, e.type]),
      [
        ['ev-1', '0', 'wxmesh.behaviour.v1.UserLoggedIn'],
        ['ev-2', '1', 'wxmesh.behaviour.v1.UserLoggedIn'],
        ['ev-3', '2', 'wxmesh.behaviour.v1.UserLoggedIn'],
      ],
    );
    for (const e of seen) {
      assert.equal(wechatFromBaggage(e.context).openid, 'o_untraced');
      assert.equal(trace.getSpanContext(e.context)?.traceId, traceId);
      assert.equal(e.context, e.context, 'made once');
    }
  });
});
