import { context, SpanKind, SpanStatusCode, trace, type Attributes } from '@opentelemetry/api';
import {
  injectKafkaHeaders,
  registeredCounter,
  wechatSpanAttributes,
  withWeChatBaggage,
} from '@wxmesh/telemetry';
import type { BehaviourEvent } from '@wxmesh/contracts';
import kafkajs, { type Kafka, type Message, type RetryOptions } from 'kafkajs';
import { register as globalRegister, type Counter, type Registry } from 'prom-client';
import { encodeBehaviourEvent, eventType, identityOf, SCHEMA_VERSION } from './envelope.js';
import { SILENT_LOGGER, type EventsLogger } from './logger.js';
import { BEHAVIOUR_TOPIC } from './topics.js';

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

/** Thrown when the cluster did not acknowledge an `emit`; `cause` is the kafkajs error. */
export class EventsNotAcknowledgedError extends Error {
  override readonly name = 'EventsNotAcknowledgedError';
  constructor(
    readonly topic: string,
    readonly eventIds: readonly string[],
    options: { cause: unknown },
  ) {
    const why = options.cause instanceof Error ? options.cause.message : String(options.cause);
    super(`${eventIds.length} event(s) not acknowledged by ${topic}: ${why}`, options);
  }
}

const TRACER = trace.getTracer('@wxmesh/events', '0.1.0');

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
  const metrics = producerMetrics(options.registry ?? globalRegister);
  const producer = options.kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: kafkajs.Partitioners.DefaultPartitioner,
    ...(options.retry === undefined ? {} : { retry: options.retry }),
  });

  const stamp = (event: BehaviourEvent): BehaviourEvent => {
    if (event.producer === '') return { ...event, producer: service };
    if (event.producer !== service) {
      throw new Error(
        `event ${event.eventId} says producer "${event.producer}" but this producer is "${service}"`,
      );
    }
    return event;
  };

  const emitWithin = async (signal: AbortSignal | undefined, ...events: BehaviourEvent[]): Promise<void> => {
    signal?.throwIfAborted();
    if (events.length === 0) return;
    let encoded: { event: BehaviourEvent; type: string; value: Buffer }[];
    try {
      encoded = events.map((raw) => {
        const event = stamp(raw);
        const bytes = encodeBehaviourEvent(event);
        return {
          event,
          type: eventType(event),
          value: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
        };
      });
    } catch (err) {
      metrics.failures.inc(events.length);
      throw err;
    }

    const parent = context.active();
    const span = TRACER.startSpan(
      `send ${topic}`,
      {
        kind: SpanKind.PRODUCER,
        attributes: spanAttributes(
          topic,
          encoded.map((e) => e.event),
        ),
      },
      parent,
    );
    const sendContext = trace.setSpan(parent, span);
    const messages: Message[] = encoded.map(({ event, type, value }) => ({
      key: event.wechat!.openid,
      value,
      headers: injectKafkaHeaders(
        { 'event-type': type, 'schema-version': SCHEMA_VERSION },
        withWeChatBaggage(sendContext, identityOf(event)),
      ),
    }));
    try {
      const sending = context.with(sendContext, () => producer.send({ topic, acks: -1, messages }));
      await (signal === undefined ? sending : untilAborted(sending, signal));
    } catch (err) {
      metrics.failures.inc(events.length);
      if (signal?.aborted && err === signal.reason) {
        span.setAttribute('error.type', 'aborted');
        span.setStatus({
          code: SpanStatusCode.ERROR,
          message: 'the caller’s deadline passed before Kafka acknowledged',
        });
        throw err;
      }
      span.recordException(err as Error);
      span.setAttribute('error.type', (err as Error)?.name ?? 'Error');
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.message });
      throw new EventsNotAcknowledgedError(
        topic,
        encoded.map((e) => e.event.eventId),
        { cause: err },
      );
    } finally {
      span.end();
    }
    for (const { type } of encoded) metrics.produced.inc({ type });
  };

  return {
    connect: async () => {
      await producer.connect();
      logger.info({ topic, producer: service }, 'event producer connected');
    },
    emit: (...events) => emitWithin(undefined, ...events),
    emitWithin,
    disconnect: () => producer.disconnect(),
  };
}

/**
 * `work`, or the signal's reason as soon as the signal fires, whichever comes first. `work` goes
 * on (kafkajs offers no way to cancel a queued send); its late failure is swallowed here, the
 * caller having already been given the reason.
 */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.reject(signal.reason as unknown);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      work.catch(() => undefined);
      reject(signal.reason as unknown);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

function spanAttributes(topic: string, events: BehaviourEvent[]): Attributes {
  const attributes: Attributes = {
    'messaging.system': 'kafka',
    'messaging.destination.name': topic,
    'messaging.operation.type': 'send',
    'messaging.operation.name': 'send',
  };
  if (events.length > 1) {
    attributes['messaging.batch.message_count'] = events.length;
  } else {
    const [event] = events as [BehaviourEvent];
    attributes['messaging.message.id'] = event.eventId;
    attributes['messaging.kafka.message.key'] = event.wechat!.openid;
    Object.assign(attributes, wechatSpanAttributes(identityOf(event)));
  }
  return attributes;
}

interface ProducerMetrics {
  produced: Counter<'type'>;
  failures: Counter;
}

/** One set of series per registry, shared by every producer registered there. */
function producerMetrics(registry: Registry): ProducerMetrics {
  const produced = registeredCounter(registry, {
    name: 'wxmesh_events_produced_total',
    help: 'Behaviour events acknowledged by Kafka, by event type.',
    labelNames: ['type'],
  });
  const failures = registeredCounter(registry, {
    name: 'wxmesh_events_produce_failures_total',
    help: 'Behaviour events whose emit rejected (invalid, or not acknowledged by Kafka).',
  });
  return { produced, failures };
}
