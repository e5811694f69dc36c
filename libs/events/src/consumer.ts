import { BehaviourEventConsumer } from './consumer/event-consumer.js';
import type { EventConsumer, EventConsumerOptions } from './consumer/options.js';
import { consumerSettings } from './consumer/settings.js';

export { DLQ_HEADERS } from './consumer/dead-letters.js';
export {
  KNOWN_EVENT_TYPES,
  type ConsumedEvent,
  type EventConsumer,
  type EventConsumerOptions,
} from './consumer/options.js';

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
  const consumer = new BehaviourEventConsumer(consumerSettings(options));
  return {
    groupId: consumer.groupId,
    start: () => consumer.start(),
    stop: () => consumer.stop(),
    positions: () => consumer.positions(),
  };
}
