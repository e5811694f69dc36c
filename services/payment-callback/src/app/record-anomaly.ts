import { anomalyEvent } from '../domain/events.js';
import type { NotificationOutcome, PaymentDeps } from './deps.js';
import { NotDurableError } from './owed-events.js';

/** A verified notification that disagreed with its order (or named none). */
export interface Anomaly {
  outTradeNo: string;
  /**
   * Recorded and counted once per key: the subject (`tx:<transaction_id>` or `refund:<refund_id>`)
   * with a fingerprint of the disagreeing content (domain/anomaly-key.ts), so each distinct mismatch
   * counts and a redelivered copy of one does not.
   */
  key: string;
  /** The fields that disagreed (`order` when there is no such order). */
  fields: string[];
  transactionId: string;
  /** The payer the event is about; without one no event is emitted. */
  openid: string;
  appid?: string;
  /** Kept with the record for operators. */
  detail: unknown;
}

/**
 * Records an anomaly (counted in the alert metric once per distinct mismatch), logs it, and emits
 * PaymentAnomalyDetected. The notification is answered 204 (WeChat Pay's retry would only repeat
 * it), unless Kafka did not take the event: then {@link NotDurableError}, so it is retried.
 */
export async function recordAnomaly(deps: PaymentDeps, anomaly: Anomaly): Promise<NotificationOutcome> {
  const { store, producer, metrics, logger, now } = deps;
  const { outTradeNo, key, fields, transactionId, openid, appid, detail } = anomaly;
  if (await store.recordAnomaly(outTradeNo, key, { fields, detail, at: now() }))
    for (const field of fields) metrics.anomalies.inc({ field });
  logger.error(
    { outTradeNo, fields, transactionId },
    'payment anomaly: notification disagrees with the order',
  );
  if (!openid) return 'anomaly';
  try {
    await producer.emit(anomalyEvent({ outTradeNo, transactionId, openid, appid, fields, at: now(), key }));
  } catch (err) {
    throw new NotDurableError(`anomaly event not acknowledged: ${(err as Error).message}`);
  }
  return 'anomaly';
}
