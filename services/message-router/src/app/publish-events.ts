import type { EventProducer } from '@wxmesh/events';
import type { Logger } from '@wxmesh/rpc';
import type { DeliveryStore } from '../adapters/delivery-store.js';
import { deliveryEvent } from '../domain/events.js';

/**
 * The outbox of delivery events: every state change that owes a behaviour event records it in
 * Redis in the same atomic step, and this loop emits what is owed and only then clears it. A
 * Kafka outage delays events, never loses them; a crash after the emit re-emits the same event
 * ids, which consumers drop. `kick()` runs a pass soon (after a state change) instead of waiting
 * for the interval.
 */
export function createEventOutbox(deps: {
  store: DeliveryStore;
  producer: EventProducer;
  logger: Logger;
  intervalMs: number;
  batchSize: number;
}) {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;

  async function publishOnce(): Promise<number> {
    const owed = await deps.store.owedEvents(deps.batchSize);
    if (owed.length === 0) return 0;
    const deliveries = await Promise.all(owed.map((o) => deps.store.get(o.deliveryId)));
    const events = owed.flatMap((o, i) => {
      const delivery = deliveries[i];
      const event = delivery && deliveryEvent(delivery, o.kind);
      return event ? [event] : [];
    });
    if (events.length > 0) await deps.producer.emit(...events);
    await deps.store.eventsPublished(owed.map((o) => o.member));
    return owed.length;
  }

  async function pass(): Promise<void> {
    try {
      while (!stopped && (await publishOnce()) === deps.batchSize);
    } catch (err) {
      deps.logger.warn({ err }, 'delivery events not published yet; retrying');
    }
  }

  function kick(): void {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = pass().finally(() => {
      running = undefined;
      if (again) {
        again = false;
        kick();
      }
    });
  }

  return {
    kick,
    start(): void {
      timer = setInterval(kick, deps.intervalMs);
      timer.unref();
    },
    /** Stops the loop after one last pass. */
    async stop(): Promise<void> {
      clearInterval(timer);
      await running;
      await pass();
      stopped = true;
    },
  };
}
