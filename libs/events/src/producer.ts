import kafkajs, { type Kafka, type RetryOptions } from 'kafkajs';
import { register as globalRegister, type Registry } from 'prom-client';
import type { BehaviourEvent } from '@wxmesh/contracts';
import { SILENT_LOGGER, type EventsLogger } from './logger.js';
import { producerMetrics } from './producer/metrics.js';
import { sendEvents, type SendDeps } from './producer/send.js';
import { BEHAVIOUR_TOPIC, ensureBehaviourTopics } from './topics.js';

export { EventsNotAcknowledgedError } from './producer/not-acknowledged.js';

/** Options of {@link createEventProducer}. */
export interface EventProducerOptions {
  /** The client to produce with; its `clientId`, brokers, TLS/SASL and logging apply. */
  kafka: Kafka;
  /** The producing service's name, e.g. `session`: stamped on events whose `producer` is empty. */
  producer: string;
  /** Default {@link BEHAVIOUR_TOPIC}; only tests change it. */
  topic?: string;
  logger?: EventsLogger;
  /** Where the counters go. Default: prom-client's global registry. */
  registry?: Registry;
  /**
   * kafkajs retry policy for a send (default: the `kafka` client's). It bounds how long `emit`
   * keeps trying before it rejects; the idempotent producer requires `retries` of at least 1.
   */
  retry?: RetryOptions;
}

/** Produces behaviour events; see {@link createEventProducer}. */
export interface EventProducer {
  /** Connects to the cluster; call once at start-up, before the first `emit`. */
  connect(): Promise<void>;
  /**
   * Validates and sends the events in one request, and resolves only once every partition
   * leader has acknowledged them with all in-sync replicas (acks=all). It rejects when any
   * event is invalid (then nothing is sent) or when the cluster did not acknowledge them
   * within the retry policy; after a rejection some of the events may still have been
   * written, so re-emit them with the same event ids (consumers deduplicate by id).
   */
  emit(...events: BehaviourEvent[]): Promise<void>;
  /**
   * {@link emit} bounded by the served call's remaining budget: pass the handler's `ctx.signal`.
   * Nothing is sent once `signal` has fired (it rejects with the signal's reason), and the wait for
   * the acknowledgement ends when it fires, rejecting with the reason. kafkajs cannot withdraw a
   * request it has queued, so records of a send cut short this way may still be written (as after
   * any rejection: re-emitting with the same ids is safe). An undefined signal is plain `emit`.
   */
  emitWithin(signal: AbortSignal | undefined, ...events: BehaviourEvent[]): Promise<void>;
  /** Waits for sends in flight, then closes the connections; call it during graceful shutdown. */
  disconnect(): Promise<void>;
}

/**
 * The behaviour-event producer a service emits through. The kafkajs producer is idempotent
 * (`idempotent: true`, `acks: -1`, `maxInFlightRequests: 1`), so a retried send neither
 * duplicates nor reorders records, and it partitions by Kafka's murmur2 DefaultPartitioner,
 * the same partition for a key as Java clients choose. It never auto-creates the topic:
 * run {@link ensureBehaviourTopics} first.
 *
 * Each record: key = `wechat.openid` (one user's events stay in order on one partition),
 * value = the protobuf envelope, headers `event-type` (payload type name), `schema-version`,
 * `traceparent`/`tracestate`/`baggage` of the send's PRODUCER span (child of the active
 * context), and `x-wx-*` plus the baggage's `wechat.*` entries set from the event's own
 * identity, never the active request's (an event may be about another user).
 *
 * Metrics: `wxmesh_events_produced_total{type}` counts acknowledged events,
 * `wxmesh_events_produce_failures_total` counts events of every rejected `emit`.
 */
export function createEventProducer(options: EventProducerOptions): EventProducer {
  const service = options.producer.trim();
  if (service === '') throw new Error('createEventProducer: producer (the service name) must not be empty');
  const topic = options.topic ?? BEHAVIOUR_TOPIC;
  const logger = options.logger ?? SILENT_LOGGER;
  const deps: SendDeps = {
    topic,
    service,
    metrics: producerMetrics(options.registry ?? globalRegister),
    producer: options.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: kafkajs.Partitioners.DefaultPartitioner,
      ...(options.retry === undefined ? {} : { retry: options.retry }),
    }),
  };
  return {
    connect: async () => {
      await deps.producer.connect();
      logger.info({ topic, producer: service }, 'event producer connected');
    },
    emit: (...events) => sendEvents(deps, undefined, events),
    emitWithin: (signal, ...events) => sendEvents(deps, signal, events),
    disconnect: () => deps.producer.disconnect(),
  };
}

/**
 * A service's behaviour-event producer, connected and ready to emit: with `createTopics` (local runs
 * and tests; production manages its topics and sets EVENTS_CREATE_TOPICS=false) the behaviour
 * topics are created first when missing.
 */
export async function connectEventProducer(
  options: EventProducerOptions & { createTopics: boolean },
): Promise<EventProducer> {
  if (options.createTopics) await ensureBehaviourTopics(options.kafka, { logger: options.logger });
  const producer = createEventProducer(options);
  await producer.connect();
  return producer;
}
