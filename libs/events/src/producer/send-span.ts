import {
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
} from '@opentelemetry/api';
import type { BehaviourEvent } from '@wxmesh/contracts';
import { wechatSpanAttributes } from '@wxmesh/telemetry';
import { identityOf } from '../envelope.js';

const TRACER = trace.getTracer('@wxmesh/events', '0.1.0');

/** Starts the PRODUCER span `send <topic>` of one emit under `parent`; returns it and its context. */
export function startSendSpan(
  topic: string,
  events: readonly BehaviourEvent[],
  parent: Context,
): { span: Span; context: Context } {
  const span = TRACER.startSpan(
    `send ${topic}`,
    { kind: SpanKind.PRODUCER, attributes: sendSpanAttributes(topic, events) },
    parent,
  );
  return { span, context: trace.setSpan(parent, span) };
}

/** Marks the span of an emit cut short by the caller's deadline. */
export function markAborted(span: Span): void {
  span.setAttribute('error.type', 'aborted');
  span.setStatus({
    code: SpanStatusCode.ERROR,
    message: 'the caller’s deadline passed before Kafka acknowledged',
  });
}

/** Marks the span of an emit Kafka did not acknowledge. */
export function markFailed(span: Span, err: unknown): void {
  span.recordException(err as Error);
  span.setAttribute('error.type', (err as Error)?.name ?? 'Error');
  span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.message });
}

function sendSpanAttributes(topic: string, events: readonly BehaviourEvent[]): Attributes {
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
