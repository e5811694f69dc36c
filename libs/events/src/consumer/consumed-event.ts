import { SpanKind, trace, type Context, type Span } from '@opentelemetry/api';
import type { BehaviourEvent } from '@wxmesh/contracts';
import { extractKafkaContext, wechatSpanAttributes } from '@wxmesh/telemetry';
import type { KafkaMessage } from 'kafkajs';
import { identityOf } from '../envelope.js';
import type { ConsumedEvent } from './options.js';

const TRACER = trace.getTracer('@wxmesh/events', '0.1.0');

/** Where an event was consumed: the names its CONSUMER span carries. */
export interface ConsumptionSite {
  readonly topic: string;
  readonly groupId: string;
}

/**
 * A {@link ConsumedEvent} whose span and context are made on first use: the consumer opens them
 * at once when tracing is on, otherwise only if someone reads `context`. A class for the lazy
 * field (one prototype getter instead of a closure per event).
 */
export class Consumed implements ConsumedEvent {
  #context: Context | undefined;
  #span: Span | undefined;
  readonly topic: string;
  constructor(
    readonly event: BehaviourEvent,
    readonly type: string,
    readonly partition: number,
    readonly message: KafkaMessage,
    private readonly site: ConsumptionSite,
  ) {
    this.topic = site.topic;
  }
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
      const { span, context } = openConsumerSpan(this.site, this.event, this.message, this.partition);
      this.#span = span;
      this.#context = context;
    }
    return this.#span;
  }
}

/**
 * The CONSUMER span `process <topic>` of one event, child of the producer's span (from the
 * record's `traceparent`), and the context holding it with the record's baggage.
 */
export function openConsumerSpan(
  site: ConsumptionSite,
  event: BehaviourEvent,
  message: KafkaMessage,
  partition: number,
): { span: Span; context: Context } {
  const parent = extractKafkaContext(message.headers ?? {});
  const span = TRACER.startSpan(
    `process ${site.topic}`,
    {
      kind: SpanKind.CONSUMER,
      attributes: {
        'messaging.system': 'kafka',
        'messaging.destination.name': site.topic,
        'messaging.operation.type': 'process',
        'messaging.consumer.group.name': site.groupId,
        'messaging.destination.partition.id': String(partition),
        'messaging.kafka.offset': Number(message.offset),
        'messaging.message.id': event.eventId,
        ...wechatSpanAttributes(identityOf(event)),
      },
    },
    parent,
  );
  return { span, context: trace.setSpan(parent, span) };
}
