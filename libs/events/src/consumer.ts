import { context, SpanKind, SpanStatusCode, trace, type Context, type Span } from '@opentelemetry/api';
import { BehaviourEventSchema, type BehaviourEvent } from '@wxmesh/contracts';
import { extractKafkaContext, tracingEnabled, wechatSpanAttributes } from '@wxmesh/telemetry';
import kafkajs, {
  type ConsumerConfig,
  type EachBatchPayload,
  type IHeaders,
  type Kafka,
  type KafkaMessage,
} from 'kafkajs';
import { register as globalRegister, type Registry } from 'prom-client';
import {
  decodeBehaviourEvent,
  eventType,
  identityOf,
  SCHEMA_VERSION,
  validateBehaviourEvent,
} from './envelope.js';
import { SILENT_LOGGER, type EventsLogger } from './logger.js';
import { consumerMetrics } from './consumer-metrics.js';
import { BEHAVIOUR_DLQ_TOPIC, BEHAVIOUR_TOPIC } from './topics.js';

/**
 * Every payload type this build of the schema knows (`wxmesh.behaviour.v1.UserLoggedIn`, ...): the
 * default registry of {@link createEventConsumer}. A record of any other type comes from a newer
 * producer and is skipped, not failed.
 */
export const KNOWN_EVENT_TYPES: ReadonlySet<string> = new Set(
  BehaviourEventSchema.fields.flatMap((field) =>
    field.oneof?.name === 'payload' && field.message !== undefined ? [field.message.typeName] : [],
  ),
);

/** One decoded, valid event handed to {@link EventConsumerOptions.apply}. */
export interface ConsumedEvent {
  readonly event: BehaviourEvent;
  /** The payload's type name, e.g. `wxmesh.behaviour.v1.UserLoggedIn`. */
  readonly type: string;
  readonly topic: string;
  readonly partition: number;
  /** The record's offset (kafkajs keeps offsets as decimal strings). */
  readonly offset: string;
  /** The event's CONSUMER span, child of the producer's span: run work under it to join the trace. */
  readonly context: Context;
}

/** Options of {@link createEventConsumer}. */
export interface EventConsumerOptions {
  kafka: Kafka;
  /** The consumer group; every process of one service shares it, a rebuild uses a fresh one. */
  groupId: string;
  /**
   * Applies events of one partition, in offset order. It MUST be idempotent: after a crash or a
   * rebalance the records after the last committed offset are delivered again, and during a
   * rebalance two consumers can briefly hold the same partition. Resolve only once the effects
   * are durable; throw to have the events retried (see {@link isTransient}).
   */
  apply(events: readonly ConsumedEvent[]): Promise<void>;
  /**
   * True for failures that say nothing about the event (the store is unreachable): those are
   * retried until they pass or the consumer stops, and never dead-lettered. Anything else is the
   * event's fault after {@link maxAttempts} attempts. Default: nothing is transient.
   */
  isTransient?(err: unknown): boolean;
  /** Attempts of one event before it goes to the dead-letter topic (default 5). */
  maxAttempts?: number;
  /** First pause between attempts, doubled each time up to 5 s (default 100 ms). */
  retryBackoffMs?: number;
  /** Events per `apply` call (default 500); also how often the position moves and heartbeats are sent. */
  chunkSize?: number;
  /** Partitions processed at the same time (default 6), so one's store round trip overlaps another's decoding. */
  partitionsConsumedConcurrently?: number;
  /** Read a new group's partitions from offset 0 (default true: a new read model needs all history). */
  fromBeginning?: boolean;
  /** Default {@link BEHAVIOUR_TOPIC}. */
  topic?: string;
  /** Default {@link BEHAVIOUR_DLQ_TOPIC}. */
  dlqTopic?: string;
  /** Types applied; other types are skipped with a metric. Default {@link KNOWN_EVENT_TYPES}. */
  knownTypes?: ReadonlySet<string>;
  /** kafkajs consumer settings (session timeout, heartbeat interval, fetch sizes); `groupId` is ours. */
  consumer?: Omit<ConsumerConfig, 'groupId'>;
  logger?: EventsLogger;
  /** Where the metrics go. Default: prom-client's global registry. */
  registry?: Registry;
  /** Injected for tests; default `Date.now`. */
  now?: () => number;
}

/** A running consumer; see {@link createEventConsumer}. */
export interface EventConsumer {
  readonly groupId: string;
  /** Connects, subscribes and starts consuming; resolves once the consumer runs (not when it joined). */
  start(): Promise<void>;
  /**
   * Stops fetching, lets each partition finish the chunk it is applying, commits what was applied
   * and leaves the group, so another member takes the partitions over at once. Call it in
   * graceful shutdown.
   */
  stop(): Promise<void>;
  /**
   * Per partition this consumer has processed, the next offset to process (all before it are
   * applied, skipped or dead-lettered). A rebuild compares it with the high watermarks.
   */
  positions(): ReadonlyMap<number, bigint>;
}

/** Headers a dead letter carries besides the original record's own. */
export const DLQ_HEADERS = {
  error: 'dlq-error',
  reason: 'dlq-reason',
  attempts: 'dlq-attempts',
  group: 'dlq-consumer-group',
  topic: 'dlq-source-topic',
  partition: 'dlq-source-partition',
  offset: 'dlq-source-offset',
  failedAt: 'dlq-failed-at',
} as const;

type DeadLetterReason = 'undecodable' | 'invalid' | 'apply_failed';

const TRACER = trace.getTracer('@wxmesh/events', '0.1.0');
const MAX_BACKOFF_MS = 5_000;

/** Thrown out of a batch whose partition was revoked or whose consumer is stopping: nothing more is applied. */
class BatchAbandoned extends Error {}

/** What a batch's retries and dead letters need: whether to go on, and a heartbeat. */
interface BatchControl {
  live(): boolean;
  heartbeat(): Promise<void>;
}

/** A partition's batches, processed one after the other; a new epoch drops the ones queued before it. */
interface Lane {
  tail: Promise<void>;
  epoch: number;
}

/**
 * The consumer side of the behaviour topic: a kafkajs consumer group that decodes, validates and
 * hands events to an idempotent `apply`, in per-partition order and in chunks (so the store can be
 * written with one pipelined round trip per chunk).
 *
 * Delivery is at least once, and the design assumes it: a partition's position moves past a
 * chunk only after `apply` resolved for it, and only that position is committed (kafkajs'
 * autoCommit is off), after every batch and on `stop()`; a heartbeat is sent after every chunk,
 * and a batch whose partition was revoked mid-way (a rebalance) is abandoned after the chunk it
 * is applying. Whatever was applied but not committed is applied again by the next owner, which
 * `apply` must tolerate.
 *
 * Records that cannot be applied never stall a partition:
 * - unknown `event-type` (a newer producer), or a `schema-version` other than this build's:
 *   skipped, counted in `wxmesh_events_skipped_total{reason}`; the topic keeps them forever, so a
 *   rebuild after upgrading folds them in;
 * - bytes that are not a `BehaviourEvent`, or an event breaking the schema's rules: dead-lettered
 *   at once (no retry can fix them);
 * - an event whose `apply` keeps failing: when a chunk fails, its events are retried one by one,
 *   each up to `maxAttempts` times with backoff, then the record goes to the DLQ topic with the
 *   error and the partition moves on. Failures `isTransient` calls transient are retried without
 *   limit instead (a store outage must not empty the topic into the DLQ).
 *
 * A dead letter is the original key, value and headers plus the `dlq-*` headers
 * ({@link DLQ_HEADERS}), written by an idempotent acks=all producer before the offset moves on.
 *
 * Each event is processed in a CONSUMER span `process <topic>` whose parent is the producer's span
 * (from `traceparent`), with the `x-wx-*` identity in the context's baggage. While no tracer
 * provider is registered those spans are no-ops, so the span and context are built only when an
 * event's `context` is read.
 *
 * Chunks of a batch are pipelined: the next chunk is decoded while `apply` runs on the one before;
 * `apply` calls of a partition still run one at a time and in offset order. Each partition's
 * batches run on a lane of their own, and kafkajs fetches the next batches while a lane folds the
 * current one (at most one batch ahead per partition): the fetch round trip and its decoding
 * overlap the store's work instead of stalling it.
 *
 * Metrics (labelled by `group`): `wxmesh_events_consumed_total{result=applied|skipped|dead_lettered}`,
 * `wxmesh_events_skipped_total{reason}`, `wxmesh_events_dead_lettered_total{reason}`,
 * `wxmesh_events_apply_retries_total`, `wxmesh_events_apply_duration_seconds` (one `apply` call),
 * `wxmesh_events_consumer_lag{topic,partition}` (high watermark minus next offset, after each chunk).
 */
export function createEventConsumer(options: EventConsumerOptions): EventConsumer {
  const topic = options.topic ?? BEHAVIOUR_TOPIC;
  const dlqTopic = options.dlqTopic ?? BEHAVIOUR_DLQ_TOPIC;
  const groupId = options.groupId;
  const knownTypes = options.knownTypes ?? KNOWN_EVENT_TYPES;
  const maxAttempts = options.maxAttempts ?? 5;
  const backoffMs = options.retryBackoffMs ?? 100;
  const chunkSize = options.chunkSize ?? 500;
  const isTransient = options.isTransient ?? (() => false);
  const logger = options.logger ?? SILENT_LOGGER;
  const now = options.now ?? Date.now;
  if (!Number.isSafeInteger(maxAttempts) || maxAttempts < 1)
    throw new Error(`createEventConsumer: maxAttempts must be a positive integer, got ${maxAttempts}`);
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 1)
    throw new Error(`createEventConsumer: chunkSize must be a positive integer, got ${chunkSize}`);

  const metrics = consumerMetrics(options.registry ?? globalRegister, groupId);
  const consumer = options.kafka.consumer({ allowAutoTopicCreation: false, ...options.consumer, groupId });
  const dlq = options.kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: kafkajs.Partitioners.DefaultPartitioner,
  });
  const positions = new Map<number, bigint>();
  const committed = new Map<number, bigint>();
  const lanes = new Map<number, Lane>();
  let running = false;
  let stopping = false;

  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    const assigned = new Set(payload.memberAssignment[topic] ?? []);
    // kafkajs fetches every assigned partition from its committed offset again: batches queued
    // before the rebalance are dropped (a lane finishes the chunk it is applying).
    for (const lane of lanes.values()) lane.epoch++;
    for (const partition of positions.keys()) {
      if (!assigned.has(partition)) {
        positions.delete(partition);
        committed.delete(partition);
        metrics.lag.remove({ topic, partition: String(partition) });
      }
    }
    logger.info({ groupId, topic, partitions: [...assigned].sort((a, b) => a - b) }, 'consumer joined group');
  });

  const pause = async (ms: number, control: BatchControl) => {
    const until = now() + ms;
    while (now() < until) {
      if (!control.live()) throw new BatchAbandoned();
      await new Promise((resolve) => setTimeout(resolve, Math.min(250, until - now())));
    }
    await control.heartbeat();
  };

  /** Runs `fn` until it succeeds: transient failures without limit, others `limit` times. */
  const withRetries = async <T>(
    fn: () => Promise<T>,
    control: BatchControl,
    limit: number,
  ): Promise<{ ok: true; value: T } | { ok: false; error: unknown; attempts: number }> => {
    let attempts = 0;
    let delay = backoffMs;
    for (;;) {
      try {
        return { ok: true, value: await fn() };
      } catch (err) {
        const transient = isTransient(err);
        if (!transient) attempts++;
        if (!transient && attempts >= limit) return { ok: false, error: err, attempts };
        metrics.retries.inc();
        if (transient) logger.warn({ err, groupId, topic }, 'transient failure; retrying');
        await pause(delay, control);
        delay = Math.min(delay * 2, MAX_BACKOFF_MS);
      }
    }
  };

  const deadLetter = async (
    message: KafkaMessage,
    partition: number,
    reason: DeadLetterReason,
    error: unknown,
    attempts: number,
    control: BatchControl,
  ) => {
    const headers: IHeaders = {
      ...message.headers,
      [DLQ_HEADERS.error]: describe(error),
      [DLQ_HEADERS.reason]: reason,
      [DLQ_HEADERS.attempts]: String(attempts),
      [DLQ_HEADERS.group]: groupId,
      [DLQ_HEADERS.topic]: topic,
      [DLQ_HEADERS.partition]: String(partition),
      [DLQ_HEADERS.offset]: message.offset,
      [DLQ_HEADERS.failedAt]: new Date(now()).toISOString(),
    };
    const sent = await withRetries(
      () =>
        dlq.send({
          topic: dlqTopic,
          acks: -1,
          messages: [{ key: message.key, value: message.value, headers }],
        }),
      control,
      Number.POSITIVE_INFINITY,
    );
    if (!sent.ok) throw sent.error;
    metrics.deadLettered.inc({ group: groupId, reason });
    metrics.consumed.inc({ group: groupId, result: 'dead_lettered' });
    logger.warn(
      { groupId, topic, partition, offset: message.offset, reason, attempts, error: describe(error) },
      'behaviour record dead-lettered',
    );
  };

  /**
   * Decodes a record: the event and its type, or why it is not applied (synchronous, so the
   * common case allocates no promise).
   */
  const decode = (message: KafkaMessage): Decoded => {
    const headers = message.headers;
    if (headers !== undefined) {
      const headerType = headerString(headers['event-type']);
      if (headerType !== undefined && !knownTypes.has(headerType)) return SKIP_UNKNOWN_TYPE;
      const version = headerString(headers['schema-version']);
      if (version !== undefined && version !== SCHEMA_VERSION) return SKIP_SCHEMA_VERSION;
    }
    let event: BehaviourEvent;
    try {
      if (message.value === null) throw new Error('record has no value');
      event = decodeBehaviourEvent(message.value);
    } catch (error) {
      return { dead: 'undecodable', error };
    }
    if (event.payload.case === undefined && event.$unknown !== undefined && event.$unknown.length > 0) {
      return SKIP_UNKNOWN_TYPE; // a payload field this build does not know
    }
    try {
      validateBehaviourEvent(event);
    } catch (error) {
      return { dead: 'invalid', error };
    }
    const type = eventType(event);
    if (!knownTypes.has(type)) return SKIP_UNKNOWN_TYPE;
    return { event, type };
  };

  /** The CONSUMER span of one event, child of the producer's span, and the context holding it. */
  const openSpan = (event: BehaviourEvent, message: KafkaMessage, partition: number) => {
    const parent = extractKafkaContext(message.headers ?? {});
    const span = TRACER.startSpan(
      `process ${topic}`,
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          'messaging.system': 'kafka',
          'messaging.destination.name': topic,
          'messaging.operation.type': 'process',
          'messaging.consumer.group.name': groupId,
          'messaging.destination.partition.id': String(partition),
          'messaging.kafka.offset': Number(message.offset),
          'messaging.message.id': event.eventId,
          ...wechatSpanAttributes(identityOf(event)),
        },
      },
      parent,
    );
    return { span, context: trace.setSpan(parent, span) };
  };

  const skip = (reason: string) => {
    metrics.skipped.inc({ group: groupId, reason });
    metrics.consumed.inc({ group: groupId, result: 'skipped' });
  };

  const timedApply = async (events: readonly ConsumedEvent[]) => {
    const end = metrics.applyDuration.startTimer();
    try {
      await options.apply(events);
    } finally {
      end();
    }
  };

  const countApplied = (events: readonly ConsumedEvent[]) => {
    const byType = new Map<string, number>();
    for (const e of events) byType.set(e.type, (byType.get(e.type) ?? 0) + 1);
    for (const [type, n] of byType) metrics.applied.inc({ group: groupId, type }, n);
    metrics.consumed.inc({ group: groupId, result: 'applied' }, events.length);
  };

  /** Decodes a chunk: its applicable events; records skipped or dead-lettered on the way. */
  const prepareChunk = async (messages: KafkaMessage[], partition: number, control: BatchControl) => {
    // Without a tracer provider every span is a no-op: then an event's span and context are only
    // built if `apply` (or a dead letter) asks for its context, instead of for every event.
    const traced = tracingEnabled();
    const ready: Consumed[] = [];
    for (const message of messages) {
      const decoded = decode(message);
      if ('event' in decoded) {
        const consumed = new Consumed(decoded.event, decoded.type, topic, partition, message, openSpan);
        if (traced) consumed.open();
        ready.push(consumed);
      } else if ('skipped' in decoded) {
        skip(decoded.skipped);
      } else {
        await deadLetter(message, partition, decoded.dead, decoded.error, 1, control);
      }
    }
    return ready;
  };

  /** Applies a prepared chunk; a failing event is retried, then dead-lettered. */
  const applyChunk = async (ready: Consumed[], partition: number, control: BatchControl) => {
    if (ready.length === 0) return;
    const whole = await withRetries(() => timedApply(ready), control, 1);
    if (whole.ok) {
      for (const r of ready) r.span?.end();
      countApplied(ready);
      return;
    }
    // The chunk failed for a reason that is not transient: find the culprit
    // by applying one event at a time (idempotent apply makes re-running the good ones harmless).
    for (const r of ready) {
      const one = await withRetries(() => timedApply([r]), control, maxAttempts);
      if (one.ok) {
        countApplied([r]);
        r.span?.end();
        continue;
      }
      const span = r.open();
      span.recordException(one.error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: describe(one.error) });
      span.end();
      await context.with(r.context, () =>
        deadLetter(r.message, partition, 'apply_failed', one.error, one.attempts, control),
      );
    }
  };

  /** Commits the partition's applied position, if it moved; a failure is left to the next commit. */
  const commit = async (payload: EachBatchPayload, partition: number) => {
    const next = positions.get(partition);
    if (next === undefined || committed.get(partition) === next) return;
    try {
      await payload.commitOffsetsIfNecessary({
        topics: [{ topic, partitions: [{ partition, offset: String(next) }] }],
      });
      committed.set(partition, next);
    } catch (err) {
      logger.warn({ err, groupId, topic, partition }, 'offset commit failed; the next commit covers it');
    }
  };

  // One batch of a lane: its chunks are pipelined, the next chunk decoded while the store applies
  // the one before it. Applies still run one at a time and in offset order, and the position
  // moves past a chunk only once it was applied. Never rejects: a batch that cannot go on is
  // abandoned (its lane's epoch moved on, the consumer stops) or, on an unexpected error, its
  // partition is sought back to the applied position so that kafkajs fetches the rest again.
  const processBatch = async (payload: EachBatchPayload, lane: Lane, epoch: number) => {
    const { batch } = payload;
    const { partition } = batch;
    const control: BatchControl = {
      live: () => !stopping && lane.epoch === epoch && payload.isRunning() && !payload.isStale(),
      // A failed heartbeat (a rebalance) is the runner's to act on; it heartbeats after every batch.
      heartbeat: () => payload.heartbeat().catch(() => {}),
    };
    // After a rejoin kafkajs fetches from the committed offset again: skip what this process applied.
    const from = positions.get(partition);
    let messages = batch.messages;
    if (from !== undefined && BigInt(messages[0]!.offset) < from)
      messages = messages.filter((m) => BigInt(m.offset) >= from);
    let applying: Promise<void> | undefined;
    let applyingLast = '';
    const settle = async () => {
      if (applying === undefined) return;
      const done = applying;
      applying = undefined;
      await done;
      const next = BigInt(applyingLast) + 1n;
      positions.set(partition, next);
      metrics.lag.set({ topic, partition: String(partition) }, Number(BigInt(batch.highWatermark) - next));
      await control.heartbeat();
    };
    try {
      for (let start = 0; start < messages.length; start += chunkSize) {
        if (!control.live()) break;
        const chunk = messages.slice(start, start + chunkSize);
        const ready = await prepareChunk(chunk, partition, control);
        await settle();
        if (!control.live()) break;
        applying = applyChunk(ready, partition, control);
        applying.catch(() => {}); // awaited by settle(); this only keeps it from counting as unhandled meanwhile
        applyingLast = chunk[chunk.length - 1]!.offset;
      }
      await settle();
    } catch (err) {
      // Never leave an apply running behind a batch that is over (stop() closes the store next).
      await applying?.catch(() => {});
      if (!(err instanceof BatchAbandoned)) {
        lane.epoch++;
        const offset = String(positions.get(partition) ?? BigInt(batch.messages[0]!.offset));
        logger.warn(
          { err, groupId, topic, partition, offset },
          'batch failed; fetching again from its position',
        );
        try {
          consumer.seek({ topic, partition, offset });
        } catch {
          // The consumer is not running: the next owner starts from the committed offset.
        }
      }
    } finally {
      await commit(payload, partition);
    }
  };

  // Each partition's batches run on a lane, one after the other. kafkajs fetches again only once
  // every batch of its fetch has returned from eachBatch, so eachBatch queues its batch on the lane,
  // resolves its offsets at once (that only moves the fetch position; autoCommit is off and the
  // lane commits what it applied) and returns when the lane's previous batch is done: the next
  // fetch then overlaps the folding of this one, at most one batch ahead per partition.
  const eachBatch = async (payload: EachBatchPayload) => {
    const { partition, messages } = payload.batch;
    if (stopping || messages.length === 0) return;
    const lane = lanes.get(partition) ?? { tail: Promise.resolve(), epoch: 0 };
    lanes.set(partition, lane);
    const previous = lane.tail;
    const epoch = lane.epoch;
    lane.tail = previous.then(() => processBatch(payload, lane, epoch));
    payload.resolveOffset(messages[messages.length - 1]!.offset);
    await previous;
  };

  return {
    groupId,
    async start() {
      if (running) throw new Error('createEventConsumer: already started');
      await dlq.connect();
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: options.fromBeginning ?? true });
      stopping = false;
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? 6,
        eachBatch,
      });
      running = true;
      logger.info({ groupId, topic, dlqTopic }, 'event consumer started');
    },
    async stop() {
      running = false;
      // Lanes stop after the chunk they are applying and commit what they applied, while this
      // member still holds its partitions; then it leaves the group.
      stopping = true;
      if (lanes.size > 0) {
        try {
          consumer.pause([{ topic }]);
        } catch {
          // not running: nothing is fetched anyway
        }
        await Promise.all([...lanes.values()].map((lane) => lane.tail));
      }
      await consumer.disconnect();
      await dlq.disconnect();
    },
    positions: () => positions,
  };
}

type Decoded =
  | { event: BehaviourEvent; type: string }
  | { skipped: 'unknown_type' | 'schema_version' }
  | { dead: DeadLetterReason; error: unknown };

const SKIP_UNKNOWN_TYPE: Decoded = { skipped: 'unknown_type' };
const SKIP_SCHEMA_VERSION: Decoded = { skipped: 'schema_version' };

/**
 * A {@link ConsumedEvent} whose span and context are made on first use: the consumer opens them
 * at once when tracing is on, otherwise only if someone reads `context`. A class for the lazy
 * field (one prototype getter instead of a closure per event).
 */
class Consumed implements ConsumedEvent {
  #context: Context | undefined;
  #span: Span | undefined;
  constructor(
    readonly event: BehaviourEvent,
    readonly type: string,
    readonly topic: string,
    readonly partition: number,
    readonly message: KafkaMessage,
    private readonly openSpan: (
      event: BehaviourEvent,
      message: KafkaMessage,
      partition: number,
    ) => { span: Span; context: Context },
  ) {}
  get offset(): string {
    return this.message.offset;
  }
  get context(): Context {
    this.open();
    return this.#context!;
  }
  /** The span, if it was opened. */
  get span(): Span | undefined {
    return this.#span;
  }
  /** Opens the span (once) and returns it. */
  open(): Span {
    if (this.#span === undefined) {
      const { span, context } = this.openSpan(this.event, this.message, this.partition);
      this.#span = span;
      this.#context = context;
    }
    return this.#span;
  }
}

function headerString(value: IHeaders[string]): string | undefined {
  if (value === undefined) return undefined;
  const first = Array.isArray(value) ? value[0] : value;
  if (first === undefined) return undefined;
  return typeof first === 'string' ? first : first.toString('utf8');
}

function describe(err: unknown): string {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return text.length > 1000 ? `${text.slice(0, 1000)}…` : text;
}
