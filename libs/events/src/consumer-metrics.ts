import { registeredCounter, registeredGauge, registeredHistogram } from '@wxmesh/telemetry';
import type { Counter, Registry } from 'prom-client';

/** The consumer's series, shared by every consumer registered in one registry (labelled by group). */
export interface ConsumerMetrics {
  consumed: Counter<'group' | 'result'>;
  applied: Counter<'group' | 'type'>;
  skipped: Counter<'group' | 'reason'>;
  deadLettered: Counter<'group' | 'reason'>;
  retries: { inc(): void };
  applyDuration: { startTimer(): () => void };
  lag: {
    set(labels: { topic: string; partition: string }, value: number): void;
    remove(labels: { topic: string; partition: string }): void;
  };
}

/** Gets or registers the consumer metrics in `registry`, bound to `group` where a label needs it. */
export function consumerMetrics(registry: Registry, group: string): ConsumerMetrics {
  const consumed = registeredCounter(registry, {
    name: 'wxmesh_events_consumed_total',
    help: 'Behaviour records processed, by outcome (applied, skipped, dead_lettered).',
    labelNames: ['group', 'result'],
  });
  const applied = registeredCounter(registry, {
    name: 'wxmesh_events_applied_total',
    help: 'Behaviour events handed to apply successfully (duplicates included: apply is idempotent), by type.',
    labelNames: ['group', 'type'],
  });
  const skipped = registeredCounter(registry, {
    name: 'wxmesh_events_skipped_total',
    help: 'Behaviour records skipped: unknown_type (newer producer) or schema_version.',
    labelNames: ['group', 'reason'],
  });
  const deadLettered = registeredCounter(registry, {
    name: 'wxmesh_events_dead_lettered_total',
    help: 'Behaviour records sent to the dead-letter topic: undecodable, invalid or apply_failed.',
    labelNames: ['group', 'reason'],
  });
  const retries = registeredCounter(registry, {
    name: 'wxmesh_events_apply_retries_total',
    help: 'Retries of a failed apply (or dead-letter send).',
    labelNames: ['group'],
  });
  const applyDuration = registeredHistogram(registry, {
    name: 'wxmesh_events_apply_duration_seconds',
    help: 'Duration of one apply call (a chunk of up to chunkSize events of one partition).',
    labelNames: ['group'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  });
  const lag = registeredGauge(registry, {
    name: 'wxmesh_events_consumer_lag',
    help: 'Records behind the high watermark, per assigned partition, after the last processed chunk.',
    labelNames: ['group', 'topic', 'partition'],
  });
  return {
    consumed,
    applied,
    skipped,
    deadLettered,
    retries: { inc: () => retries.inc({ group }) },
    applyDuration: { startTimer: () => applyDuration.startTimer({ group }) },
    lag: {
      set: (labels, value) => lag.set({ group, ...labels }, value),
      remove: (labels) => lag.remove({ group, ...labels }),
    },
  };
}
