import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

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

function metric<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

/** Gets or registers the consumer metrics in `registry`, bound to `group` where a label needs it. */
export function consumerMetrics(registry: Registry, group: string): ConsumerMetrics {
  const registers = [registry];
  const consumed = metric(
    registry,
    'wxmesh_events_consumed_total',
    () =>
      new Counter({
        name: 'wxmesh_events_consumed_total',
        help: 'Behaviour records processed, by outcome (applied, skipped, dead_lettered).',
        labelNames: ['group', 'result'],
        registers,
      }),
  );
  const applied = metric(
    registry,
    'wxmesh_events_applied_total',
    () =>
      new Counter({
        name: 'wxmesh_events_applied_total',
        help: 'Behaviour events handed to apply successfully (duplicates included: apply is idempotent), by type.',
        labelNames: ['group', 'type'],
        registers,
      }),
  );
  const skipped = metric(
    registry,
    'wxmesh_events_skipped_total',
    () =>
      new Counter({
        name: 'wxmesh_events_skipped_total',
        help: 'Behaviour records skipped: unknown_type (newer producer) or schema_version.',
        labelNames: ['group', 'reason'],
        registers,
      }),
  );
  const deadLettered = metric(
    registry,
    'wxmesh_events_dead_lettered_total',
    () =>
      new Counter({
        name: 'wxmesh_events_dead_lettered_total',
        help: 'Behaviour records sent to the dead-letter topic: undecodable, invalid or apply_failed.',
        labelNames: ['group', 'reason'],
        registers,
      }),
  );
  const retries = metric(
    registry,
    'wxmesh_events_apply_retries_total',
    () =>
      new Counter({
        name: 'wxmesh_events_apply_retries_total',
        help: 'Retries of a failed apply (or dead-letter send).',
        labelNames: ['group'],
        registers,
      }),
  );
  const applyDuration = metric(
    registry,
    'wxmesh_events_apply_duration_seconds',
    () =>
      new Histogram({
        name: 'wxmesh_events_apply_duration_seconds',
        help: 'Duration of one apply call (a chunk of up to chunkSize events of one partition).',
        labelNames: ['group'],
        buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
        registers,
      }),
  );
  const lag = metric(
    registry,
    'wxmesh_events_consumer_lag',
    () =>
      new Gauge({
        name: 'wxmesh_events_consumer_lag',
        help: 'Records behind the high watermark, per assigned partition, after the last processed chunk.',
        labelNames: ['group', 'topic', 'partition'],
        registers,
      }),
  );
  return {
    consumed: consumed as Counter<'group' | 'result'>,
    applied: applied as Counter<'group' | 'type'>,
    skipped: skipped as Counter<'group' | 'reason'>,
    deadLettered: deadLettered as Counter<'group' | 'reason'>,
    retries: { inc: () => (retries as Counter<'group'>).inc({ group }) },
    applyDuration: { startTimer: () => (applyDuration as Histogram<'group'>).startTimer({ group }) },
    lag: {
      set: (labels, value) =>
        (lag as Gauge<'group' | 'topic' | 'partition'>).set({ group, ...labels }, value),
      remove: (labels) => (lag as Gauge<'group' | 'topic' | 'partition'>).remove({ group, ...labels }),
    },
  };
}
