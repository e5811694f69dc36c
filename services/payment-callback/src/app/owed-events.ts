import { eventFor } from '../domain/events.js';
import { isSettled, owedEventIds, type OrderRecord } from '../domain/order.js';
import type { PaymentDeps } from './deps.js';

/** A notification's effect could not be made durable; WeChat Pay must retry (answer 5xx). */
export class NotDurableError extends Error {
  override readonly name = 'NotDurableError';
}

/**
 * Emits the events `order` owes and, once Kafka acknowledged them, settles them in the store; an
 * order with nothing left to do leaves the sweeper's schedule. Throws {@link NotDurableError} when
 * Kafka did not acknowledge (the events stay owed: a retry or the sweeper emits them again).
 */
export async function flushOwedEvents(
  deps: Pick<PaymentDeps, 'store' | 'producer'>,
  order: OrderRecord,
): Promise<void> {
  const owed = owedEventIds(order);
  if (owed.length === 0) return;
  const events = owed.flatMap((id) => eventFor(order, id) ?? []);
  try {
    await deps.producer.emit(...events);
  } catch (err) {
    throw new NotDurableError(`events not acknowledged by Kafka: ${(err as Error).message}`);
  }
  const settled = await deps.store.settle(order.outTradeNo, owed);
  if (settled && isSettled(settled)) await deps.store.unschedule(settled.outTradeNo);
}
