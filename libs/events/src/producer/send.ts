import { context } from '@opentelemetry/api';
import type { BehaviourEvent } from '@wxmesh/contracts';
import type { Producer } from 'kafkajs';
import type { ProducerMetrics } from './metrics.js';
import { EventsNotAcknowledgedError } from './not-acknowledged.js';
import { encodeEvents, recordsOf, type EncodedEvent } from './records.js';
import { markAborted, markFailed, startSendSpan } from './send-span.js';
import { untilAborted } from './until-aborted.js';

/** What one emit needs from its producer. */
export interface SendDeps {
  readonly producer: Producer;
  readonly topic: string;
  /** The producing service, stamped on events whose `producer` is empty. */
  readonly service: string;
  readonly metrics: ProducerMetrics;
}

/**
 * One emit: validates and encodes every event (nothing is sent when one is invalid), sends them in
 * one acks=all request under a PRODUCER span, and waits for the acknowledgement or for `signal`.
 * Rejects with the validation error, the signal's reason, or {@link EventsNotAcknowledgedError}.
 */
export async function sendEvents(
  deps: SendDeps,
  signal: AbortSignal | undefined,
  events: readonly BehaviourEvent[],
): Promise<void> {
  signal?.throwIfAborted();
  if (events.length === 0) return;
  let encoded: EncodedEvent[];
  try {
    encoded = encodeEvents(events, deps.service);
  } catch (err) {
    deps.metrics.failures.inc(events.length);
    throw err;
  }
  await sendEncoded(deps, signal, encoded);
  for (const { type } of encoded) deps.metrics.produced.inc({ type });
}

async function sendEncoded(
  deps: SendDeps,
  signal: AbortSignal | undefined,
  encoded: readonly EncodedEvent[],
): Promise<void> {
  const { producer, topic, metrics } = deps;
  const { span, context: sendContext } = startSendSpan(
    topic,
    encoded.map((e) => e.event),
    context.active(),
  );
  const messages = recordsOf(encoded, sendContext);
  try {
    const sending = context.with(sendContext, () => producer.send({ topic, acks: -1, messages }));
    await (signal === undefined ? sending : untilAborted(sending, signal));
  } catch (err) {
    metrics.failures.inc(encoded.length);
    if (signal?.aborted && err === signal.reason) {
      markAborted(span);
      throw err;
    }
    markFailed(span, err);
    throw new EventsNotAcknowledgedError(
      topic,
      encoded.map((e) => e.event.eventId),
      { cause: err },
    );
  } finally {
    span.end();
  }
}
