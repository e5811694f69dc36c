import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { context, SpanKind, SpanStatusCode, type Span } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { BehaviourEvent } from '@wxmesh/contracts';
import {
  extractKafkaContext,
  initTelemetry,
  wechatFromBaggage,
  withWeChatBaggage,
  type Telemetry,
} from '@wxmesh/telemetry';
import { startInfra, startKafka, waitFor, type Infra } from '@wxmesh/testing';
import kafkajs, { type Admin, type Consumer, type Kafka, type KafkaMessage } from 'kafkajs';
import { Registry } from 'prom-client';
import {
  behaviourEvent,
  decodeBehaviourEvent,
  InvalidBehaviourEventError,
  type BehaviourEventInit,
} from './envelope.js';
import { createEventProducer, EventsNotAcknowledgedError, type EventProducer } from './producer.js';
import { ensureBehaviourTopics } from './topics.js';

const exporter = new InMemorySpanExporter();
let telemetry: Telemetry;
let infra: Infra<{ kafka: true; redis: false }>;
let kafka: Kafka;
let admin: Admin;
const made: string[] = [];
const cleanups: (() => Promise<unknown>)[] = [];

before(async () => {
  telemetry = await initTelemetry({ serviceName: 'events-spec', exporter, spanProcessor: 'simple' });
  infra = await startInfra({ kafka: true, redis: false });
  kafka = client(infra.kafkaBrokers);
  admin = kafka.admin();
  await admin.connect();
});

after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  if (admin !== undefined) {
    const existing = new Set(await admin.listTopics().catch(() => []));
    const topics = made.filter((t) => existing.has(t));
    if (topics.length > 0) await admin.deleteTopics({ topics }).catch(() => undefined);
    await admin.disconnect();
  }
  await infra?.stop();
  await telemetry?.shutdown();
});

function client(brokers: string, extra: Partial<ConstructorParameters<typeof kafkajs.Kafka>[0]> = {}): Kafka {
  return new kafkajs.Kafka({
    clientId: 'events-producer-spec',
    brokers: brokers.split(','),
    logLevel: kafkajs.logLevel.NOTHING,
    ...extra,
  });
}

/** A fresh behaviour topic (and DLQ) made the way production makes it. */
async function freshTopic(partitions: number, on: Kafka = kafka): Promise<string> {
  const topic = `wxmesh.behaviour.v1.spec-${randomUUID()}`;
  if (on === kafka) made.push(topic, `${topic}.dlq`);
  await ensureBehaviourTopics(on, { topic, dlqTopic: `${topic}.dlq`, partitions });
  return topic;
}

async function connectedProducer(
  topic: string,
  registry: Registry,
  on: Kafka = kafka,
): Promise<EventProducer> {
  const producer = createEventProducer({ kafka: on, producer: 'session', topic, registry });
  await producer.connect();
  cleanups.push(() => producer.disconnect());
  return producer;
}

interface Received {
  partition: number;
  offset: bigint;
  key: string;
  headers: Record<string, string>;
  event: BehaviourEvent;
}

/** Reads `count` records from the start of `topic` with a raw kafkajs consumer in a fresh group. */
async function consume(topic: string, count: number): Promise<Received[]> {
  const consumer: Consumer = kafka.consumer({ groupId: `spec-${randomUUID()}`, maxWaitTimeInMs: 100 });
  const received: Received[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => void received.push(toReceived(partition, message)),
    });
    await waitFor(() => received.length >= count, {
      timeoutMs: 20_000,
      message: `${count} records on ${topic}`,
    });
  } finally {
    await consumer.disconnect();
  }
  return received;
}

function toReceived(partition: number, message: KafkaMessage): Received {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) headers[name] = String(value);
  return {
    partition,
    offset: BigInt(message.offset),
    key: message.key!.toString(),
    headers,
    event: decodeBehaviourEvent(message.value!),
  };
}

let seq = 0;
function event(openid: string, overrides: Partial<BehaviourEventInit> = {}): BehaviourEvent {
  seq++;
  return behaviourEvent({
    eventId: `evt-${seq}-${randomUUID()}`,
    aggregateId: `session:s${seq}`,
    occurredAt: 1_700_000_000_000 + seq,
    producer: 'session',
    wechat: { openid, appid: 'wx1234567890abcdef' },
    payload: { case: 'sessionStarted', value: { sessionId: `s${seq}` } },
    ...overrides,
  });
}

async function counter(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = await registry.getSingleMetric(name)?.get();
  const match = metric?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return match?.value ?? 0;
}

async function recordsIn(topic: string): Promise<number> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
}

const sendSpans = (topic: string): ReadableSpan[] =>
  exporter.getFinishedSpans().filter((s) => s.name === `send ${topic}`);

describe('createEventProducer', () => {
  it('sends a record keyed by openid with the contract headers, the send span as trace parent, and the event identity', async () => {
    const topic = await freshTopic(3);
    const registry = new Registry();
    const producer = await connectedProducer(topic, registry);
    const sent = event('o_alice', {
      aggregateVersion: 4,
      wechat: { openid: 'o_alice', appid: 'wx1234567890abcdef', unionid: 'u_alice' },
    });

    // The request being served belongs to someone else: the record must carry the event's user.
    const requestContext = withWeChatBaggage(context.active(), {
      openid: 'o_caller',
      fromOpenid: 'o_sharer',
    });
    let handler: Span | undefined;
    await context.with(requestContext, () =>
      telemetry.tracer.startActiveSpan('handle CreateSession', async (span) => {
        handler = span;
        try {
          await producer.emit(sent);
        } finally {
          span.end();
        }
      }),
    );
    assert.equal(
      await counter(registry, 'wxmesh_events_produced_total', { type: 'wxmesh.behaviour.v1.SessionStarted' }),
      1,
    );

    const [record, ...rest] = await consume(topic, 1);
    assert.equal(rest.length, 0);
    assert.equal(record!.key, 'o_alice');
    assert.deepEqual(record!.event, sent, 'the decoded event equals the emitted one');
    const { headers } = record!;
    assert.equal(headers['event-type'], 'wxmesh.behaviour.v1.SessionStarted');
    assert.equal(headers['schema-version'], '1');
    assert.equal(headers['x-wx-openid'], 'o_alice');
    assert.equal(headers['x-wx-appid'], 'wx1234567890abcdef');
    assert.equal(headers['x-wx-unionid'], 'u_alice');
    assert.equal(
      headers['x-wx-from-openid'],
      undefined,
      "the request's identity does not leak into the record",
    );
    assert.deepEqual(wechatFromBaggage(extractKafkaContext(headers)), {
      openid: 'o_alice',
      appid: 'wx1234567890abcdef',
      unionid: 'u_alice',
    });

    const [send, ...others] = sendSpans(topic);
    assert.equal(others.length, 0, 'one span per emit');
    const traceId = handler!.spanContext().traceId;
    assert.equal(headers.traceparent, `00-${traceId}-${send!.spanContext().spanId}-01`);
    assert.equal(send!.spanContext().traceId, traceId, 'the trace id is the active span’s');
    assert.equal(send!.parentSpanContext?.spanId, handler!.spanContext().spanId);
    assert.equal(send!.kind, SpanKind.PRODUCER);
    assert.equal(send!.attributes['messaging.system'], 'kafka');
    assert.equal(send!.attributes['messaging.destination.name'], topic);
    assert.equal(send!.attributes['messaging.operation.type'], 'send');
    assert.equal(send!.attributes['messaging.message.id'], sent.eventId);
    assert.equal(send!.attributes['wechat.openid'], 'o_alice');
  });

  it('keeps each user’s events in order on one partition, as the murmur2 partitioner places them, across a batch', async () => {
    const partitions = 4;
    const topic = await freshTopic(partitions);
    const producer = await connectedProducer(topic, new Registry());
    const users = ['o_u1', 'o_u2', 'o_u3', 'o_u4', 'o_u5', 'o_u6'];
    const batch = (from: number, rounds: number) =>
      Array.from({ length: rounds * users.length }, (_, i) => {
        const openid = users[i % users.length]!;
        const version = from + Math.floor(i / users.length);
        return event(openid, { aggregateId: `user:${openid}`, aggregateVersion: version });
      });
    const first = batch(1, 8);
    const second = batch(9, 3);
    await producer.emit(...first);
    await producer.emit(...second);
    const all = [...first, ...second];

    const received = await consume(topic, all.length);
    assert.deepEqual(
      received.map((r) => r.event.eventId).sort(),
      all.map((e) => e.eventId).sort(),
      'every event exactly once',
    );
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
    const partitionMetadata = topics[0]!.partitions;
    const javaCompatible = kafkajs.Partitioners.DefaultPartitioner();
    for (const openid of users) {
      const mine = received.filter((r) => r.key === openid);
      assert.equal(new Set(mine.map((r) => r.partition)).size, 1, `${openid} stays on one partition`);
      assert.equal(
        mine[0]!.partition,
        javaCompatible({ topic, partitionMetadata, message: { key: openid, value: null } }),
        `${openid} is where Java clients would put it`,
      );
      mine.sort((a, b) => (a.offset < b.offset ? -1 : 1));
      assert.deepEqual(
        mine.map((r) => Number(r.event.aggregateVersion)),
        Array.from({ length: 11 }, (_, i) => i + 1),
        `${openid}'s events in emit order`,
      );
    }
    assert.ok(new Set(received.map((r) => r.partition)).size > 1, 'the users spread over partitions');
    const spans = sendSpans(topic);
    assert.deepEqual(
      spans.map((s) => s.attributes['messaging.batch.message_count']),
      [first.length, second.length],
      'one send per emit',
    );
  });

  it('rejects an invalid event before anything is sent, and stamps its name on events without a producer', async () => {
    const topic = await freshTopic(2);
    const registry = new Registry();
    const producer = await connectedProducer(topic, registry);

    const noOpenid = event('', { wechat: { openid: '' } });
    await assert.rejects(
      producer.emit(event('o_a'), noOpenid, event('o_b')),
      (err: unknown) =>
        err instanceof InvalidBehaviourEventError &&
        err.eventId === noOpenid.eventId &&
        /wechat\.openid is required/.test(err.message),
    );
    await assert.rejects(
      producer.emit(event('o_a', { producer: 'auth-verify' })),
      /says producer "auth-verify"/,
    );
    assert.equal(await recordsIn(topic), 0, 'nothing of a rejected batch was written');
    assert.equal(await counter(registry, 'wxmesh_events_produce_failures_total'), 4);
    assert.equal(sendSpans(topic).length, 0, 'no send was attempted');

    const unstamped = event('o_c', { producer: '' });
    await producer.emit(unstamped);
    assert.equal(await recordsIn(topic), 1);
    const [record] = await consume(topic, 1);
    assert.equal(record!.event.producer, 'session');
    assert.equal(unstamped.producer, '', "the caller's event is not mutated");
  });

  it('rejects once the broker is gone, within the retry policy', async () => {
    const broker = await startKafka();
    cleanups.push(() => broker.stop());
    const own = client(broker.brokers, {
      connectionTimeout: 500,
      requestTimeout: 2000,
      retry: { retries: 1, initialRetryTime: 100, maxRetryTime: 300 },
    });
    const topic = await freshTopic(1, own);
    const registry = new Registry();
    const producer = createEventProducer({
      kafka: own,
      producer: 'session',
      topic,
      registry,
      retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 500 },
    });
    await producer.connect();
    cleanups.push(() => producer.disconnect());
    await producer.emit(event('o_a'));

    await broker.stop();
    const started = Date.now();
    const lost = event('o_a');
    await assert.rejects(
      producer.emit(lost),
      (err: unknown) => err instanceof EventsNotAcknowledgedError && err.eventIds[0] === lost.eventId,
    );
    assert.ok(Date.now() - started < 10_000, `rejected after ${Date.now() - started} ms`);
    assert.equal(await counter(registry, 'wxmesh_events_produce_failures_total'), 1);
    assert.equal(
      await counter(registry, 'wxmesh_events_produced_total', { type: 'wxmesh.behaviour.v1.SessionStarted' }),
      1,
    );
    const failed = sendSpans(topic).at(-1)!;
    assert.equal(failed.status.code, SpanStatusCode.ERROR);
    assert.ok(failed.attributes['error.type']);
  });
});
