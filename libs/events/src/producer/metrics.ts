import { registeredCounter } from '@wxmesh/telemetry';
import type { Counter, Registry } from 'prom-client';

/** The producer's series: acknowledged events by type, and events of rejected emits. */
export interface ProducerMetrics {
  produced: Counter<'type'>;
  failures: Counter;
}

/** One set of series per registry, shared by every producer registered there. */
export function producerMetrics(registry: Registry): ProducerMetrics {
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
