import type { Context } from '@opentelemetry/api';
import type { BehaviourEvent } from '@wxmesh/contracts';
import { injectKafkaHeaders, withWeChatBaggage } from '@wxmesh/telemetry';
import type { Message } from 'kafkajs';
import { encodeBehaviourEvent, eventType, identityOf, SCHEMA_VERSION } from '../envelope.js';

/** An event ready to send: stamped with its producer, validated and encoded. */
export interface EncodedEvent {
  readonly event: BehaviourEvent;
  readonly type: string;
  readonly value: Buffer;
}

/**
 * Stamps each event with the producing service and encodes it (which validates it). Throws for
 * the first event that is invalid or names another producer, so nothing of the batch is sent.
 */
export function encodeEvents(events: readonly BehaviourEvent[], service: string): EncodedEvent[] {
  return events.map((raw) => {
    const event = stampProducer(raw, service);
    const bytes = encodeBehaviourEvent(event);
    return {
      event,
      type: eventType(event),
      value: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    };
  });
}

/** The event with `producer` set to `service` when empty; throws when it names another service. */
export function stampProducer(event: BehaviourEvent, service: string): BehaviourEvent {
  if (event.producer === '') return { ...event, producer: service };
  if (event.producer !== service) {
    throw new Error(
      `event ${event.eventId} says producer "${event.producer}" but this producer is "${service}"`,
    );
  }
  return event;
}

/**
 * The Kafka records of encoded events: key = openid, value = the envelope, headers = event type,
 * schema version, and the send span's trace context with the event's own WeChat identity.
 */
export function recordsOf(encoded: readonly EncodedEvent[], sendContext: Context): Message[] {
  return encoded.map(({ event, type, value }) => ({
    key: event.wechat!.openid,
    value,
    headers: injectKafkaHeaders(
      { 'event-type': type, 'schema-version': SCHEMA_VERSION },
      withWeChatBaggage(sendContext, identityOf(event)),
    ),
  }));
}
