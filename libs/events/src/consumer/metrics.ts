import { registeredCounter, registeredGauge, registeredHistogram } from '@wxmesh/telemetry';
import type { Registry } from 'prom-client';

/** Why a record went to the dead-letter topic (the `reason` label and the `dlq-reason` header). */
export type DeadLetterReason = 'undecodable' | 'invalid' | 'apply_failed';

/** Why a record was skipped (the `reason` label of `wxmesh_events_skipped_total`). */
export type SkipReason = 'unknown_type' | 'schema_version';

/** One consumer group's series: every method records one outcome, labelled by that group. */
export interface ConsumerMetrics {
  /** Events handed to `apply` successfully, counted by type. */
  applied(types: readonly string[]): void;
  skipped(reason: SkipReason): void;
  deadLettered(reason: DeadLetterReason): void;
  retried(): void;
  /** Starts timing one `apply` call; call the result when it settled. */
  startApplyTimer(): () => void;
  /** Records behind the high watermark after a chunk. */
  setLag(topic: string, partition: number, records: number): void;
  /** Drops the lag series of a partition this member lost. */
  forgetLag(topic: string, partition: number): void;
}

/**
 * Gets or registers the consumer metrics in `registry` (one set of series shared by every consumer
 * there, labelled by group) and binds them to `group`.
 */
export function consumerMetrics(registry: Registry, group: string): ConsumerMetrics {
  const series = registerConsumerSeries(registry);
  return {
    applied(types) {
      const byType = new Map<string, number>();
      for (const type of types) byType.set(type, (byType.get(type) ?? 0) + 1);
      for (const [type, n] of byType) series.applied.inc({ group, type }, n);
      series.consumed.inc({ group, result: 'applied' }, types.length);
    },
    skipped(reason) {
      series.skipped.inc({ group, reason });
      series.consumed.inc({ group, result: 'skipped' });
    },
    deadLettered(reason) {
      series.deadLettered.inc({ group, reason });
      series.consumed.inc({ group, result: 'dead_lettered' });
    },
    retried: () => series.retries.inc({ group }),
    startApplyTimer: () => series.applyDuration.startTimer({ group }),
    setLag: (topic, partition, records) =>
      series.lag.set({ group, topic, partition: String(partition) }, records),
    forgetLag: (topic, partition) => series.lag.remove({ group, topic, partition: String(partition) }),
  };
}

function registerConsumerSeries(registry: Registry) {
  const counter = <L extends string>(name: string, help: string, labelNames: L[]) =>
    registeredCounter(registry, { name, help, labelNames });
  return {
    consumed: counter(
      'wxmesh_events_consumed_total',
      'Behaviour records processed, by outcome (applied, skipped, dead_lettered).',
      ['group', 'result'],
    ),
    applied: counter(
      'wxmesh_events_applied_total',
      'Behaviour events handed to apply successfully (duplicates included: apply is idempotent), by type.',
      ['group', 'type'],
    ),
    skipped: counter(
      'wxmesh_events_skipped_total',
      'Behaviour records skipped: unknown_type (newer producer) or schema_version.',
      ['group', 'reason'],
    ),
    deadLettered: counter(
      'wxmesh_events_dead_lettered_total',
      'Behaviour records sent to the dead-letter topic: undecodable, invalid or apply_failed.',
      ['group', 'reason'],
    ),
    retries: counter(
      'wxmesh_events_apply_retries_total',
      'Retries of a failed apply (or dead-letter send).',
      ['group'],
    ),
    applyDuration: registeredHistogram(registry, {
      name: 'wxmesh_events_apply_duration_seconds',
      help: 'Duration of one apply call (a chunk of up to chunkSize events of one partition).',
      labelNames: ['group'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    }),
    lag: registeredGauge(registry, {
      name: 'wxmesh_events_consumer_lag',
      help: 'Records behind the high watermark, per assigned partition, after the last processed chunk.',
      labelNames: ['group', 'topic', 'partition'],
    }),
  };
}
