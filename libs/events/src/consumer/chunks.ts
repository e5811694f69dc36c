import { context, SpanStatusCode } from '@opentelemetry/api';
import { tracingEnabled } from '@wxmesh/telemetry';
import type { KafkaMessage } from 'kafkajs';
import { Consumed, type ConsumptionSite } from './consumed-event.js';
import { describeError, type DeadLetterSender } from './dead-letters.js';
import type { ConsumerMetrics } from './metrics.js';
import type { ConsumedEvent } from './options.js';
import { decodeRecord } from './record-decoder.js';
import { withRetries, type BatchControl, type RetryPolicy } from './retries.js';

/** What preparing and applying a chunk of one partition's records needs. */
export interface ChunkDeps {
  readonly site: ConsumptionSite;
  readonly knownTypes: ReadonlySet<string>;
  readonly maxAttempts: number;
  readonly apply: (events: readonly ConsumedEvent[]) => Promise<void>;
  readonly metrics: ConsumerMetrics;
  readonly deadLetters: DeadLetterSender;
  readonly retryPolicy: RetryPolicy;
}

/**
 * Decodes a chunk: its applicable events, in offset order; records skipped or dead-lettered on
 * the way. Without a tracer provider every span is a no-op, so an event's span and context are
 * then only built if `apply` (or a dead letter) asks for its context.
 */
export async function prepareChunk(
  deps: ChunkDeps,
  messages: readonly KafkaMessage[],
  partition: number,
  control: BatchControl,
): Promise<Consumed[]> {
  const traced = tracingEnabled();
  const ready: Consumed[] = [];
  for (const message of messages) {
    const decoded = decodeRecord(message, deps.knownTypes);
    if ('event' in decoded) {
      const consumed = new Consumed(decoded.event, decoded.type, partition, message, deps.site);
      if (traced) consumed.open();
      ready.push(consumed);
    } else if ('skipped' in decoded) {
      deps.metrics.skipped(decoded.skipped);
    } else {
      const cause = { partition, reason: decoded.dead, error: decoded.error, attempts: 1 };
      await deps.deadLetters.send(message, cause, control);
    }
  }
  return ready;
}

/**
 * Applies a prepared chunk in one `apply` call. When that fails (not transiently), the events are
 * applied one at a time to find the culprit (idempotent apply makes re-running the good ones
 * harmless): each up to `maxAttempts`, then it is dead-lettered and the next one goes on.
 */
export async function applyChunk(
  deps: ChunkDeps,
  ready: readonly Consumed[],
  partition: number,
  control: BatchControl,
): Promise<void> {
  if (ready.length === 0) return;
  const whole = await withRetries(() => timedApply(deps, ready), control, 1, deps.retryPolicy);
  if (whole.ok) {
    for (const r of ready) r.span?.end();
    deps.metrics.applied(ready.map((r) => r.type));
    return;
  }
  for (const r of ready) await applyAlone(deps, r, partition, control);
}

async function applyAlone(deps: ChunkDeps, r: Consumed, partition: number, control: BatchControl) {
  const one = await withRetries(() => timedApply(deps, [r]), control, deps.maxAttempts, deps.retryPolicy);
  if (one.ok) {
    deps.metrics.applied([r.type]);
    r.span?.end();
    return;
  }
  const span = r.open();
  span.recordException(one.error as Error);
  span.setStatus({ code: SpanStatusCode.ERROR, message: describeError(one.error) });
  span.end();
  const cause = { partition, reason: 'apply_failed', error: one.error, attempts: one.attempts } as const;
  await context.with(r.context, () => deps.deadLetters.send(r.message, cause, control));
}

async function timedApply(deps: ChunkDeps, events: readonly ConsumedEvent[]): Promise<void> {
  const end = deps.metrics.startApplyTimer();
  try {
    await deps.apply(events);
  } finally {
    end();
  }
}
