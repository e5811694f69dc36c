import { anomalyKey } from '../domain/anomaly-key.js';
import { eventIds } from '../domain/events.js';
import { parseWechatTime, refundMismatches, type OrderRecord, type RefundResource } from '../domain/order.js';
import { sharedOutcome, type NotificationOutcome, type PaymentDeps } from './deps.js';
import { flushOwedEvents } from './owed-events.js';
import { recordAnomaly } from './record-anomaly.js';

/**
 * Applies a successful refund to its order, once per refund_id: checked against the order (a
 * refund of another merchant, transaction or more than was paid is an anomaly), recorded with
 * RefundSucceeded owed in the same write, then the event emitted and settled. Resolves once the
 * effect is durable; {@link NotDurableError} when Kafka did not acknowledge. Copies sharing one
 * attempt hear 'duplicate', so the refund is counted applied once.
 */
export async function applyRefund(deps: PaymentDeps, refund: RefundResource): Promise<NotificationOutcome> {
  if (refund.refund_status !== 'SUCCESS') return 'ignored';
  return deps.inflight.run(
    `refund:${refund.refund_id}`,
    () => applySuccessfulRefund(deps, refund),
    sharedOutcome,
  );
}

async function applySuccessfulRefund(
  deps: PaymentDeps,
  refund: RefundResource,
): Promise<NotificationOutcome> {
  const { store, now } = deps;
  const order = await store.get(refund.out_trade_no);
  const anomaly = (fields: string[], payer?: Pick<OrderRecord, 'openid' | 'appid'>) =>
    recordAnomaly(deps, {
      outTradeNo: refund.out_trade_no,
      key: anomalyKey(`refund:${refund.refund_id}`, refund),
      fields,
      transactionId: refund.transaction_id,
      openid: payer?.openid ?? '',
      appid: payer?.appid,
      detail: { refund },
    });
  if (order === undefined) return anomaly(['order']);
  const known = order.refunds[refund.refund_id] !== undefined;
  const fields = known ? [] : refundMismatches(order, refund, deps.mchid);
  if (fields.length > 0) return anomaly(fields, order);
  await store.schedule(order.outTradeNo, now() + deps.eventRetryMs);
  const entry = {
    outRefundNo: refund.out_refund_no,
    amount: refund.amount.refund,
    succeededAt: parseWechatTime(refund.success_time) ?? now(),
  };
  const eventId = eventIds.refund(order.outTradeNo, refund.refund_id);
  const result = await store.refund(order.outTradeNo, refund.refund_id, entry, now(), eventId);
  if (result.status === 'conflict' || result.status === 'over-refund')
    return anomaly([result.status === 'conflict' ? 'state' : 'refund_amount'], order);
  if (result.status === 'applied') deps.metrics.stateChanges.inc({ kind: 'refund' });
  await flushOwedEvents(deps, result.order!);
  return result.status === 'applied' ? 'applied' : 'duplicate';
}
