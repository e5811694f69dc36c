import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { toBinary } from '@bufbuild/protobuf';
import { context, SpanKind, trace } from '@opentelemetry/api';
import { BehaviourEventSchema } from '@wxmesh/contracts';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { initTelemetry, wechatFromBaggage, type Telemetry } from '@wxmesh/telemetry';
import { startInfra, waitFor, type Infra } from '@wxmesh/testing';
import kafkajs, { type Kafka, type KafkaMessage } from 'kafkajs';
import { Registry } from 'prom-client';
import { createEventConsumer, DLQ_HEADERS, type ConsumedEvent, type EventConsumer } from './consumer.js';
import { behaviourEvent, decodeBehaviourEvent } from './envelope.js';
import { createEventProducer } from './producer.js';
import { ensureBehaviourTopics } from './topics.js';

const exporter = new InMemorySpanExporter();
let telemetry: Telemetry;
let infra: Infra<{ kafka: true; redis: false }>;
let kafka: Kafka;
const made: string[] = [];
const cleanups: (() => Promise<unknown>)[] = [];

before(async () => {
  telemetry = await initTelemetry({ serviceName: 'events-consumer-spec', exporter, spanProcessor: 'simple' });
  infra = await startInfra({ kafka: true, redis: false });
  kafka = new kafkajs.Kafka({
    clientId: 'events-consumer-spec',
    brokers: infra.kafkaBrokers.split(','),
    logLevel: kafkajs.logLevel.NOTHING,
  });
});

after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: made }).catch(() => undefined);
  await admin.disconnect();
  await infra?.stop();
  await telemetry?.shutdown();
});

async function freshTopic(partitions = 1): Promise<{ topic: string; dlqTopic: string }> {
  const topic = `wxmesh.behaviour.v1.consumer-spec-${randomUUID()}`;
  made.push(topic, `${topic}.dlq`);
  await ensureBehaviourTopics(kafka, { topic, dlqTopic: `${topic}.dlq`, partitions });
  return { topic, dlqTopic: `${topic}.dlq` };
}

const event = (n: number, openid = 'o_consumer_spec') =>
  behaviourEvent({
    eventId: `ev-${n}`,
    aggregateId: `user:${openid}`,
    occurredAt: Date.UTC(2025, 0, 1) + n,
    producer: 'session',
    wechat: { openid, appid: 'wx0123456789abcdef' },
    payload: { case: 'userLoggedIn', value: { sessionId: `s${n}` } },
  });

function start(options: Parameters<typeof createEventConsumer>[0]): EventConsumer {
  const consumer = createEventConsumer(options);
  cleanups.push(() => consumer.stop());
  return consumer;
}

async function readAll(topic: string): Promise<KafkaMessage[]> {
  const consumer = kafka.consumer({ groupId: `reader-${randomUUID()}` });
  const messages: KafkaMessage[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({ eachMessage: async ({ message }) => void messages.push(message) });
  cleanups.push(() => consumer.disconnect());
  return messages;
}

const metricValue = async (registry: Registry, name: string, labels: Record<string, string>) => {
  const metric = (await registry.getSingleMetric(name)?.get())?.values ?? [];
  return metric
    .filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))
    .reduce((n, v) => n + v.value, 0);
};

describe('createEventConsumer', () => {
  it('applies events in order under the producer trace; skips unknown types; dead-letters undecodable and invalid records', async () => {
    const { topic, dlqTopic } = await freshTopic();
    const producer = createEventProducer({ kafka, producer: 'session', topic });
    await producer.connect();
    cleanups.push(() => producer.disconnect());
    const raw = kafka.producer();
    await raw.connect();
    cleanups.push(() => raw.disconnect());

    await producer.emit(event(1), event(2));
    await raw.send({
      topic,
      messages: [
        {
          key: 'o_x',
          value: Buffer.from('not protobuf'),
          headers: { 'event-type': 'wxmesh.behaviour.v1.UserLoggedIn' },
        },
        {
          key: 'o_x',
          value: Buffer.from([0x0a]),
          headers: { 'event-type': 'wxmesh.behaviour.v1.FromTheFuture' },
        },
        // Decodes, but breaks the schema (no openid): invalid.
        { key: 'o_x', value: Buffer.from(encodeInvalid()) },
      ],
    });
    const parent = trace.getTracer('spec').startSpan('emit parent');
    await context.with(trace.setSpan(context.active(), parent), () => producer.emit(event(3)));
    parent.end();

    const applied: ConsumedEvent[] = [];
    const registry = new Registry();
    const group = `spec-${randomUUID()}`;
    const consumer = start({
      kafka,
      groupId: group,
      topic,
      dlqTopic,
      registry,
      apply: async (events) => {
        applied.push(...events);
      },
    });
    await consumer.start();
    await waitFor(() => applied.length === 3, { timeoutMs: 30_000, message: 'three events applied' });
    assert.deepEqual(
      applied.map((e) => e.event.eventId),
      ['ev-1', 'ev-2', 'ev-3'],
    );
    assert.equal(applied[0]!.type, 'wxmesh.behaviour.v1.UserLoggedIn');

    // The third event's CONSUMER span is a child of the producer's span, with the identity in baggage.
    const third = applied[2]!;
    assert.equal(wechatFromBaggage(third.context).openid, 'o_consumer_spec');
    const consumerSpan = exporter
      .getFinishedSpans()
      .find((s) => s.kind === SpanKind.CONSUMER && s.attributes['messaging.message.id'] === 'ev-3');
    assert.ok(consumerSpan, 'a CONSUMER span for ev-3');
    assert.equal(consumerSpan.spanContext().traceId, parent.spanContext().traceId, 'same trace as the emit');
    assert.equal(trace.getSpan(third.context)!.spanContext().spanId, consumerSpan.spanContext().spanId);

    const letters = await readAll(dlqTopic);
    await waitFor(() => letters.length === 2, { timeoutMs: 30_000, message: 'two dead letters' });
    assert.deepEqual(
      letters.map((l) => l.headers![DLQ_HEADERS.reason]!.toString()),
      ['undecodable', 'invalid'],
    );
    assert.equal(letters[0]!.value!.toString(), 'not protobuf', 'the original value');
    assert.equal(
      letters[0]!.headers!['event-type']!.toString(),
      'wxmesh.behaviour.v1.UserLoggedIn',
      'original headers kept',
    );
    assert.equal(letters[0]!.headers![DLQ_HEADERS.topic]!.toString(), topic);
    assert.equal(letters[0]!.headers![DLQ_HEADERS.group]!.toString(), group);
    assert.match(letters[1]!.headers![DLQ_HEADERS.error]!.toString(), /wechat\.openid is required/);
    assert.equal(await metricValue(registry, 'wxmesh_events_skipped_total', { reason: 'unknown_type' }), 1);
    assert.equal(await metricValue(registry, 'wxmesh_events_dead_lettered_total', {}), 2);
    assert.equal(await metricValue(registry, 'wxmesh_events_consumed_total', { result: 'applied' }), 3);
    await waitFor(async () => (await metricValue(registry, 'wxmesh_events_consumer_lag', { topic })) === 0, {
      message: 'lag 0 once everything is processed',
    });
  });

  it('dead-letters an event whose apply keeps failing, after maxAttempts, and moves on; transient failures are retried', async () => {
    const { topic, dlqTopic } = await freshTopic();
    const producer = createEventProducer({ kafka, producer: 'session', topic });
    await producer.connect();
    cleanups.push(() => producer.disconnect());
    await producer.emit(event(1), event(2), event(3), event(4));

    class Outage extends Error {}
    const attempts = new Map<string, number>();
    const applied = new Set<string>();
    let outages = 2;
    const consumer = start({
      kafka,
      groupId: `spec-${randomUUID()}`,
      topic,
      dlqTopic,
      registry: new Registry(),
      maxAttempts: 3,
      retryBackoffMs: 5,
      isTransient: (err) => err instanceof Outage,
      apply: async (events) => {
        if (outages > 0) {
          outages--;
          throw new Outage('store unreachable');
        }
        for (const e of events) attempts.set(e.event.eventId, (attempts.get(e.event.eventId) ?? 0) + 1);
        if (events.some((e) => e.event.eventId === 'ev-2')) throw new Error('ev-2 cannot be folded');
        for (const e of events) applied.add(e.event.eventId);
      },
    });
    await consumer.start();
    const letters = await readAll(dlqTopic);
    await waitFor(() => applied.size === 3 && letters.length === 1, {
      timeoutMs: 30_000,
      message: 'three applied, one dead letter',
    });
    assert.deepEqual([...applied].sort(), ['ev-1', 'ev-3', 'ev-4'], 'the partition moved on past ev-2');
    // Once in the failed chunk, then maxAttempts (3) alone.
    assert.equal(attempts.get('ev-2'), 4);
    const letter = letters[0]!;
    assert.equal(decodeBehaviourEvent(letter.value!).eventId, 'ev-2');
    assert.equal(letter.key!.toString(), 'o_consumer_spec');
    assert.equal(letter.headers![DLQ_HEADERS.reason]!.toString(), 'apply_failed');
    assert.equal(letter.headers![DLQ_HEADERS.attempts]!.toString(), '3');
    assert.equal(letter.headers![DLQ_HEADERS.offset]!.toString(), '1');
    assert.match(letter.headers![DLQ_HEADERS.error]!.toString(), /ev-2 cannot be folded/);
    assert.equal(outages, 0, 'the transient outage was retried (and did not count as attempts)');
    const positions = consumer.positions();
    await waitFor(() => positions.get(0) === 4n, { message: 'position past the last record' });
  });

  it('commits only what was applied: fetched records still failing are delivered again to the next member', async () => {
    const { topic, dlqTopic } = await freshTopic();
    const producer = createEventProducer({ kafka, producer: 'session', topic });
    await producer.connect();
    cleanups.push(() => producer.disconnect());
    await producer.emit(...Array.from({ length: 10 }, (_, i) => event(i)));

    class Outage extends Error {}
    const groupId = `spec-${randomUUID()}`;
    const options = { kafka, groupId, topic, dlqTopic, chunkSize: 4, retryBackoffMs: 5 };
    // The first member applies the first chunk, then its store goes down for good: the other six
    // records are fetched (and resolved for fetching) but never applied.
    const first: string[] = [];
    let outages = 0;
    const a = start({
      ...options,
      registry: new Registry(),
      isTransient: (err) => err instanceof Outage,
      apply: async (events) => {
        if (first.length > 0) {
          outages++;
          throw new Outage('store unreachable');
        }
        first.push(...events.map((e) => e.event.eventId));
      },
    });
    await a.start();
    await waitFor(() => outages >= 3, { timeoutMs: 30_000, message: 'first chunk applied, then retries' });
    const admin = kafka.admin();
    await admin.connect();
    cleanups.push(() => admin.disconnect());
    const committed = async () =>
      (await admin.fetchOffsets({ groupId, topics: [topic] }))[0]!.partitions[0]!.offset;
    // A crash now must not lose the six fetched records: nothing past the applied ones is committed.
    assert.ok(['-1', '4'].includes(await committed()), `committed ${await committed()} while failing`);
    await a.stop();
    assert.deepEqual(first, ['ev-0', 'ev-1', 'ev-2', 'ev-3']);
    assert.equal(await committed(), '4', 'a graceful stop commits what was applied');

    const second: string[] = [];
    const b = start({
      ...options,
      registry: new Registry(),
      apply: async (events) => void second.push(...events.map((e) => e.event.eventId)),
    });
    await b.start();
    await waitFor(() => second.length >= 6, { timeoutMs: 30_000, message: 'the rest delivered again' });
    assert.deepEqual(second, ['ev-4', 'ev-5', 'ev-6', 'ev-7', 'ev-8', 'ev-9']);
  });
});

/** A BehaviourEvent without openid, encoded the way a client skipping validation would. */
function encodeInvalid(): Uint8Array {
  const bad = event(99);
  bad.wechat!.openid = '';
  return toBinary(BehaviourEventSchema, bad);
}
