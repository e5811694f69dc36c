import type { BehaviourEvent } from '@wxmesh/contracts';
import type { EventProducer } from '@wxmesh/events';
import type { Logger } from '@wxmesh/rpc';

/** Emits behaviour events; see {@link createEventSink}. */
export interface EventSink {
  /** Resolves true once Kafka acknowledged every event, false when it did not (already logged). */
  emit(...events: BehaviourEvent[]): Promise<boolean>;
}

/**
 * The service's way to emit events: a failed emit is logged with the event ids and reported as
 * false, never thrown, because the caller's state change has already happened. Session events
 * are then re-emitted by the sweeper (their pending state lives in Redis); presence events are
 * best-effort by design, presence being ephemeral.
 */
export function createEventSink(producer: EventProducer, logger: Logger): EventSink {
  return {
    async emit(...events) {
      try {
        await producer.emit(...events);
        return true;
      } catch (err) {
        logger.warn({ err, eventIds: events.map((e) => e.eventId) }, 'behaviour events not acknowledged');
        return false;
      }
    },
  };
}
